"""The CLI reference, generated from the app itself: ``python -m kcli.docgen > docs/cli.md``.

Every command's docstring and every option's help text is the documentation; a test
regenerates this page and fails when docs/cli.md differs, so the two cannot drift apart.
"""

from __future__ import annotations

import sys

import typer.main
from typer._click import Context

from kcli.app import app as kcli_app

HEADER = """\
# kcli command reference

Generated from the app by `python -m kcli.docgen > docs/cli.md`: edit the commands'
docstrings and help texts, not this file. `kcli COMMAND --help` shows the same text.

Output conventions, for every command that prints data: a rich table when stdout is a
terminal, plain lines in a pipe, and with `-o json` one JSON object per line. Data goes to
stdout; summaries, hints, progress and errors go to stderr. Errors are one line starting
with `Error:`; the exit status is 1 for errors and 2 for usage mistakes.
"""


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _argument_name(param) -> str:
    """An argument as usage lines show it: TOPIC, or VALUE... when it takes any number."""
    name = (param.metavar or param.name).upper()
    if param.nargs == -1 and not name.endswith("..."):
        name += "..."
    return name


def _usage(path: str, command) -> str:
    pieces = [path]
    if any(not p.hidden for p in command.params if p.param_type_name == "option"):
        pieces.append("[OPTIONS]")
    for p in command.params:
        if p.param_type_name != "argument":
            continue
        name = _argument_name(p)
        pieces.append(name if p.required else f"[{name}]")
    if hasattr(command, "commands"):
        pieces.append("COMMAND [ARGS]...")
    return " ".join(pieces)


def _params(command, ctx) -> list[str]:
    out: list[str] = []
    args = [p for p in command.params if p.param_type_name == "argument"]
    opts = [p for p in command.params if p.param_type_name == "option" and not p.hidden]
    if args:
        out += ["", "| Argument | Description |", "|---|---|"]
        for p in args:
            name = _argument_name(p)
            help_text = p.help or ""
            if p.required:
                help_text += " (required)"
            out.append(f"| `{name}` | {_escape(help_text.strip())} |")
    if opts:
        out += ["", "| Option | Description |", "|---|---|"]
        for p in opts:
            record = p.get_help_record(ctx)
            if record is None:
                continue
            names, help_text = record
            out.append(f"| `{_escape(names)}` | {_escape(help_text)} |")
    return out


def _command(path: str, command, ctx, level: int) -> list[str]:

    out = ["", f"{'#' * level} `{path}`", ""]
    if command.help:
        out += [command.help.strip()]
    out += ["", "```", _usage(path, command), "```"]
    out += _params(command, ctx)
    if hasattr(command, "commands"):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub.hidden:
                continue
            sub_ctx = Context(sub, info_name=name, parent=ctx)
            out += _command(f"{path} {name}", sub, sub_ctx, min(level + 1, 4))
    return out


def commands(app=None) -> list[str]:
    """Every command path of the app, e.g. ``kcli topic create`` (hidden ones left out)."""
    app = kcli_app if app is None else app
    root = typer.main.get_command(app)
    found: list[str] = []

    def walk(command, ctx, path):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub.hidden:
                continue
            found.append(f"{path} {name}")
            if hasattr(sub, "commands"):
                walk(sub, Context(sub, info_name=name, parent=ctx), f"{path} {name}")

    walk(root, Context(root, info_name="kcli"), "kcli")
    return found


def generate(app=None) -> str:
    """The whole reference page as Markdown."""
    app = kcli_app if app is None else app
    root = typer.main.get_command(app)
    ctx = Context(root, info_name="kcli")
    lines = [HEADER.rstrip("\n")]
    lines += ["", "## Contents", ""]
    for path in commands(app):
        anchor = path.replace(" ", "-")
        depth = path.count(" ") - 1
        lines.append(f"{'  ' * depth}- [`{path}`](#{anchor})")
    lines += _command("kcli", root, ctx, 2)
    return "\n".join(lines) + "\n"


def main() -> None:
    sys.stdout.write(generate())


if __name__ == "__main__":
    main()
