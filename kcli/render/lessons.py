"""Lessons as they are shown: Markdown rendered for the terminal, paged when it is longer than
the screen, and the plain lines ``kcli learn`` prints around them."""

# rich (and its Markdown, slow to import) is imported only when a lesson is shown.

from __future__ import annotations

import os
import shlex
import subprocess
import sys


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def say(text: str, err: bool = False) -> None:
    """One plain line on stdout (or stderr)."""
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")
    stream.flush()


def render_markdown(text: str, footer: str = "") -> str:
    from rich.markdown import Markdown

    console = _console()
    width = min(console.width, 100)
    with console.capture() as capture:
        console.print(Markdown(text + footer, code_theme="ansi_dark"), width=width)
    return capture.get()


def print_markdown(text: str) -> None:
    from rich.markdown import Markdown

    console = _console()
    console.print(Markdown(text, code_theme="ansi_dark"), width=min(console.width, 100))


def page(rendered: str, pager: bool) -> None:
    """Page on a terminal when the text is longer than the screen; print as-is otherwise."""
    if not (pager and sys.stdout.isatty()):
        sys.stdout.write(rendered)
        sys.stdout.flush()
        return
    command = os.environ.get("KCLI_PAGER") or os.environ.get("PAGER") or "less"
    env = dict(os.environ)
    # -R keeps the colours, -F quits at once when the lesson fits, -X leaves it on screen.
    env.setdefault("LESS", "-RFX")
    try:
        proc = subprocess.Popen(shlex.split(command), stdin=subprocess.PIPE, env=env)
    except (FileNotFoundError, ValueError):
        sys.stdout.write(rendered)
        return
    try:
        assert proc.stdin is not None
        proc.stdin.write(rendered.encode("utf-8", errors="replace"))
        proc.stdin.close()
    except BrokenPipeError:
        pass  # the reader quit the pager early
    try:
        proc.wait()
    except KeyboardInterrupt:
        proc.wait()
