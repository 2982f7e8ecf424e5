"""Where output goes and the primitives every renderer writes with.

The output form (``table`` / ``plain`` / ``json``) chosen from ``-o`` and whether stdout is a
terminal; the rich consoles; one line of data, one JSON line, a note or hint on stderr;
human-readable sizes and durations; a generic rich table and its tab-separated plain twin.
"""

# Start-up: kcli.render is imported by every command that prints, a one-record `kcli produce`
# included, so rich's tables, text and live views (and logging, for --debug) are imported where
# they are used.

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence

TABLE, PLAIN, JSON = "table", "plain", "json"


# -- where output goes -----------------------------------------------------------------------


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def stdout_is_terminal() -> bool:
    return _isatty(sys.stdout)


def stderr_is_terminal() -> bool:
    return _isatty(sys.stderr)


def colors(stream=None) -> bool:
    """ANSI colours for ``stream``: only on a terminal, never with NO_COLOR or TERM=dumb."""
    return (
        _isatty(stream or sys.stdout)
        and "NO_COLOR" not in os.environ
        and os.environ.get("TERM") != "dumb"
    )


def resolve(output: str | None) -> str:
    """The form to use: what ``-o`` asked for, else a table on a terminal, plain in a pipe."""
    if output:
        return output
    return TABLE if stdout_is_terminal() else PLAIN


_consoles: dict[bool, object] = {}


def console(stderr: bool = False):
    """A rich Console for stdout or stderr (created on first use)."""
    con = _consoles.get(stderr)
    if con is None:
        from rich.console import Console

        stream = sys.stderr if stderr else sys.stdout
        con = Console(
            file=stream,
            highlight=False,
            soft_wrap=False,
            no_color=not colors(stream),
        )
        _consoles[stderr] = con
    return con


# -- small writers ---------------------------------------------------------------------------


def reader_left() -> None:
    """stdout's reader went away (``kcli consume ... | head``): not an error.  Point stdout
    at /dev/null so the final flush at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except OSError:
        pass


def line(text: str = "") -> None:
    """One line of data on stdout."""
    sys.stdout.write(text + "\n")


def data_lines(lines: list[str]) -> None:
    """Lines of data already formatted (each ending in a newline) on stdout, flushed."""
    sys.stdout.write("".join(lines))
    sys.stdout.flush()


def json_line(obj) -> None:
    """One JSON object on one line of stdout."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")


def note(text: str) -> None:
    """A summary or status line on stderr (plain text; dim on a terminal)."""
    if colors(sys.stderr):
        sys.stderr.write(f"\x1b[2m{text}\x1b[0m\n")
    else:
        sys.stderr.write(text + "\n")
    sys.stderr.flush()


def hint(text: str) -> None:
    """A suggestion for what to do next, on stderr."""
    note(f"Hint: {text}")


def _dash(value) -> str:
    """A value, or "-" where the backend does not know it (None)."""
    return "-" if value is None else str(value)


def human_bytes(n: int) -> str:
    """1536 -> '1.5 KiB'."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def human_ms(ms: int) -> str:
    """604800000 -> '7 days'; keeps Kafka's raw value readable in tables."""
    if ms < 0:
        return "forever"
    for unit, size in (("day", 86_400_000), ("hour", 3_600_000), ("minute", 60_000), ("s", 1000)):
        if ms >= size and ms % size == 0:
            n = ms // size
            if unit == "s":
                return f"{n} s"
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{ms} ms"


# -- generic tables --------------------------------------------------------------------------


def table(
    columns: Sequence[str],
    rows: Iterable[Sequence],
    *,
    title: str | None = None,
    right: Iterable[str] = (),
    caption: str | None = None,
) -> None:
    """A rich table on stdout.  ``right`` names the columns to right-align (numbers)."""
    from rich import box
    from rich.table import Table

    right = set(right)
    t = Table(
        title=title,
        caption=caption,
        box=box.SIMPLE_HEAD,
        title_justify="left",
        caption_justify="left",
        pad_edge=False,
        header_style="bold",
    )
    for col in columns:
        t.add_column(col, justify="right" if col in right else "left", overflow="fold")
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
    console().print(t)


def plain_rows(rows: Iterable[Sequence]) -> None:
    """Tab-separated values, one row per line (for cut, awk and sort)."""
    out = sys.stdout
    for row in rows:
        out.write("\t".join("" if v is None else str(v) for v in row) + "\n")


def show_debug_lines() -> None:
    """With --debug: show kcli's debug log (cluster connections, librdkafka's log lines,
    secrets masked) on stderr."""
    import logging

    class _StderrDebug(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            sys.stderr.write(f"kcli: {record.getMessage()}\n")
            sys.stderr.flush()

    logger = logging.getLogger("kcli.debug")
    if not any(type(h).__name__ == "_StderrDebug" for h in logger.handlers):
        logger.addHandler(_StderrDebug())
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
