"""The one place that prints.

Commands hand data to a function here, which picks the form:

* ``table`` — rich tables and pictures, when stdout is a terminal (or ``-o table``);
* ``plain`` — plain lines a shell pipe can cut and grep (the default in a pipe);
* ``json`` — JSON Lines with stable field names (``-o json``).

Data goes to stdout; progress, summaries, hints and errors go to stderr.  Progress bars are
drawn only when stderr is a terminal.  rich is imported only when something is drawn with it,
so plain and JSON output never pay for it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from json.encoder import encode_basestring as _json_str
from operator import itemgetter

# Fields of a storage Record tuple (offset, timestamp, key, value, headers).
_KEY, _VALUE, _HEADERS = itemgetter(2), itemgetter(3), itemgetter(4)

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


# -- progress --------------------------------------------------------------------------------


class _NoProgress:
    def advance(self, n: float = 1) -> None:
        pass

    def update(self, completed: float) -> None:
        pass


class _RichProgress:
    def __init__(self, progress, task):
        self._progress = progress
        self._task = task

    def advance(self, n: float = 1) -> None:
        self._progress.advance(self._task, n)

    def update(self, completed: float) -> None:
        self._progress.update(self._task, completed=completed)


@contextmanager
def progress(description: str, total: float | None = None, unit: str = "records") -> Iterator:
    """A progress bar on stderr when stderr is a terminal; a silent stand-in otherwise."""
    if not stderr_is_terminal():
        yield _NoProgress()
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    if total is None:
        columns = [
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TextColumn(f"{{task.completed:,.0f}} {unit}"),
            TimeElapsedColumn(),
        ]
    elif unit == "bytes":
        from rich.progress import DownloadColumn, TransferSpeedColumn

        columns = [
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        ]
    else:
        columns = [
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TimeRemainingColumn(),
        ]
    with Progress(*columns, console=console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield _RichProgress(bar, task)


# -- records ---------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode("ascii")


def record_json_slow(topic: str, partition: int, record) -> str:
    """A consumed record as one JSON line: the general case (headers, non-UTF-8 bytes).

    ``key`` and ``value`` are always strings (or null).  Bytes that are not valid UTF-8 are
    shown with U+FFFD replacement characters in ``key``/``value`` and given exactly, base64
    encoded, in ``key_b64``/``value_b64``; header values likewise in ``headers_b64``.
    ``kcli produce --input json`` prefers the ``*_b64`` fields, so every byte round-trips.
    """
    offset, timestamp, key, value, headers = record
    obj = {"topic": topic, "partition": partition, "offset": offset, "timestamp": timestamp}
    extra = {}
    for name, data in (("key", key), ("value", value)):
        if data is None:
            obj[name] = None
            continue
        try:
            obj[name] = data.decode("utf-8")
        except UnicodeDecodeError:
            obj[name] = data.decode("utf-8", "replace")
            extra[f"{name}_b64"] = _b64(data)
    shown = []
    exact = []
    binary = False
    for hkey, hvalue in headers or ():
        if hvalue is None:
            shown.append([hkey, None])
            exact.append([hkey, None])
            continue
        try:
            shown.append([hkey, hvalue.decode("utf-8")])
        except UnicodeDecodeError:
            shown.append([hkey, hvalue.decode("utf-8", "replace")])
            binary = True
        exact.append([hkey, _b64(hvalue)])
    obj["headers"] = shown
    obj.update(extra)
    if binary:
        obj["headers_b64"] = exact
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"


class RecordWriter:
    """Writes consumed records to stdout in the chosen form, in big chunks.

    ``write(topic, partition, records)`` takes storage ``Record`` tuples
    ``(offset, timestamp, key, value, headers)``.
    """

    def __init__(
        self,
        form: str,
        *,
        fmt: str | None = None,
        print_key: bool = False,
        print_headers: bool = False,
    ):
        self.form = form
        self.out = sys.stdout.buffer
        self.count = 0
        if form == JSON:
            self._write = self._json
        elif fmt is not None:
            self._format = compile_format(fmt)
            self._write = self._formatted
        elif form == TABLE:
            self._color = colors(sys.stdout)
            self._print_key = True
            self._print_headers = print_headers
            self._write = self._human
        else:
            parts = []
            if print_key:
                parts.append("%k\t")
            if print_headers:
                parts.append("%h\t")
            parts.append("%s\n")
            self._format = compile_format("".join(parts))
            self._write = self._formatted

    def write(self, topic: str, partition: int, records: Sequence) -> None:
        if records:
            self._write(topic, partition, records)
            self.count += len(records)

    def flush(self) -> None:
        self.out.flush()

    # JSON Lines.  For the common chunk (text values, no headers, keys all absent or all
    # present) map() decodes and escapes every key and value in C, and one f-string per
    # record does the rest; anything else goes through the general, slower path.
    def _json(self, topic: str, partition: int, records: Sequence) -> None:
        prefix = f'{{"topic":{_json_str(topic)},"partition":{partition},"offset":'
        values = list(map(_VALUE, records))
        keys = list(map(_KEY, records))
        text = None
        if None not in values and not any(map(_HEADERS, records)):
            try:
                value_json = map(_json_str, map(bytes.decode, values))
                if keys.count(None) == len(keys):
                    text = "".join(
                        [
                            f'{prefix}{r[0]},"timestamp":{r[1]},"key":null,"value":{v},'
                            '"headers":[]}\n'
                            for r, v in zip(records, value_json, strict=True)
                        ]
                    )
                elif None not in keys:
                    key_json = map(_json_str, map(bytes.decode, keys))
                    text = "".join(
                        [
                            f'{prefix}{r[0]},"timestamp":{r[1]},"key":{k},"value":{v},'
                            '"headers":[]}\n'
                            for r, k, v in zip(records, key_json, value_json, strict=True)
                        ]
                    )
            except (UnicodeDecodeError, TypeError):
                text = None
        if text is None:
            text = "".join([record_json_slow(topic, partition, r) for r in records])
        self.out.write(text.encode())

    def _formatted(self, topic: str, partition: int, records: Sequence) -> None:
        fields = self._format
        topic_b = topic.encode()
        partition_b = str(partition).encode()
        chunks = []
        append = chunks.append
        for record in records:
            for kind, literal in fields:
                if kind is None:
                    append(literal)
                else:
                    append(_field(kind, topic_b, partition_b, record))
        self.out.write(b"".join(chunks))

    def _human(self, topic: str, partition: int, records: Sequence) -> None:
        color = self._color
        dim, cyan, reset = ("\x1b[2m", "\x1b[36m", "\x1b[0m") if color else ("", "", "")
        lines = []
        for offset, _ts, key, value, headers in records:
            where = f"{dim}partition {partition} offset {offset:<4}{reset}"
            text = _show(value) if value is not None else f"{dim}null{reset}"
            if key is not None:
                text = f"{cyan}{_show(key)}{reset} {dim}→{reset} {text}"
            if self._print_headers and headers:
                shown = " ".join(f"{k}={_show(v) if v is not None else ''}" for k, v in headers)
                text = f"{text}  {dim}[{shown}]{reset}"
            lines.append(f"{where} {text}\n")
        self.out.write("".join(lines).encode("utf-8", "replace"))


def _show(data: bytes) -> str:
    """Bytes for a human on a terminal: UTF-8, other bytes as \\xNN, newlines as \\n."""
    text = data.decode("utf-8", "backslashreplace")
    if "\n" in text or "\r" in text or "\x1b" in text:
        text = text.replace("\n", "\\n").replace("\r", "\\r").replace("\x1b", "\\x1b")
    return text


# kcat's format tokens; the record part each one prints.
FORMAT_TOKENS = {
    "t": "topic",
    "p": "partition",
    "o": "offset",
    "k": "key",
    "s": "value",
    "K": "key length",
    "S": "value length",
    "T": "timestamp (ms)",
    "h": "headers (k=v,k2=v2)",
}
_ESCAPES = {"n": b"\n", "t": b"\t", "r": b"\r", "0": b"\0", "\\": b"\\"}


def compile_format(fmt: str) -> list[tuple[str | None, bytes | None]]:
    """``"%k: %s\\n"`` -> [(field, None) or (None, literal bytes)].  Raises ValueError."""
    out: list[tuple[str | None, bytes | None]] = []
    literal = bytearray()
    i = 0
    while i < len(fmt):
        c = fmt[i]
        if c in "%\\" and i + 1 < len(fmt):
            nxt = fmt[i + 1]
            if c == "%" and nxt == "%":
                literal += b"%"
            elif c == "%":
                if nxt not in FORMAT_TOKENS:
                    valid = " ".join(f"%{t}" for t in FORMAT_TOKENS)
                    raise ValueError(f"unknown token %{nxt} in format; valid tokens: {valid} %%")
                if literal:
                    out.append((None, bytes(literal)))
                    literal = bytearray()
                out.append((nxt, None))
            elif nxt in _ESCAPES:
                literal += _ESCAPES[nxt]
            else:
                literal += ("\\" + nxt).encode()
            i += 2
            continue
        if c == "%":
            raise ValueError("format ends with a lone %; write %% for a percent sign")
        literal += c.encode()
        i += 1
    if literal:
        out.append((None, bytes(literal)))
    return out


def _field(kind: str, topic_b: bytes, partition_b: bytes, record) -> bytes:
    offset, timestamp, key, value, headers = record
    if kind == "s":
        return b"" if value is None else value
    if kind == "o":
        return b"%d" % offset
    if kind == "k":
        return b"" if key is None else key
    if kind == "p":
        return partition_b
    if kind == "t":
        return topic_b
    if kind == "T":
        return b"%d" % timestamp
    if kind == "K":
        return b"%d" % (-1 if key is None else len(key))
    if kind == "S":
        return b"%d" % (-1 if value is None else len(value))
    # h
    return b",".join(k.encode() + b"=" + (v or b"") for k, v in headers or ())


# -- topics ----------------------------------------------------------------------------------


def topic_list(rows: list[dict], form: str) -> None:
    """``rows``: dicts with topic, partitions, records, size_bytes."""
    if form == JSON:
        for r in rows:
            json_line({"topic": r["topic"], "partitions": r["partitions"]})
    elif form == PLAIN:
        for r in rows:
            line(r["topic"])
    elif not rows:
        note("No topics yet.")
        hint("create one with: kcli topic create tweets --partitions 3")
    else:
        table(
            ["TOPIC", "PARTITIONS", "RECORDS", "SIZE"],
            [
                (
                    r["topic"],
                    r["partitions"],
                    f"{r['records']:,}",
                    "-" if r["size_bytes"] is None else human_bytes(r["size_bytes"]),
                )
                for r in rows
            ],
            right=["PARTITIONS", "RECORDS", "SIZE"],
        )


def topic_describe(desc, segments: dict[int, list], form: str) -> None:
    """A TopicDescription, with each partition's SegmentInfo list for the picture."""
    parts = desc.partitions
    if form == JSON:
        json_line(
            {
                "topic": desc.topic,
                "partitions": [
                    {
                        "partition": p.partition,
                        "log_start_offset": p.log_start_offset,
                        "log_end_offset": p.log_end_offset,
                        "size_bytes": p.size_bytes,
                        "segments": p.segments,
                    }
                    for p in parts
                ],
                "config": desc.config,
            }
        )
        return
    if form == PLAIN:
        configs = ",".join(f"{k}={v}" for k, v in sorted(desc.overrides.items()))
        line(
            f"Topic: {desc.topic}\tTopicId: {desc.topic_id or '-'}\tPartitionCount: {len(parts)}"
            f"\tConfigs: {configs}"
        )
        for p in parts:
            # A cluster does not show sizes and segments (None): "-".
            line(
                f"\tTopic: {desc.topic}\tPartition: {p.partition}"
                f"\tLogStartOffset: {p.log_start_offset}\tLogEndOffset: {p.log_end_offset}"
                f"\tSize: {_dash(p.size_bytes)}\tSegments: {_dash(p.segments)}"
            )
        return
    from rich.text import Text

    con = console()
    records = sum(p.log_end_offset - p.log_start_offset for p in parts)
    con.print(
        Text.assemble(
            ("Topic ", "bold"),
            (desc.topic, "bold cyan"),
            f"  {len(parts)} partition{'s' if len(parts) != 1 else ''}, "
            f"{records:,} record{'s' if records != 1 else ''}",
            (f"  (id {desc.topic_id})" if desc.topic_id else "", "dim"),
        )
    )
    table(
        ["PARTITION", "LOG-START-OFFSET", "LOG-END-OFFSET", "RECORDS", "SIZE", "SEGMENTS"],
        [
            (
                p.partition,
                p.log_start_offset,
                p.log_end_offset,
                p.log_end_offset - p.log_start_offset,
                "-" if p.size_bytes is None else human_bytes(p.size_bytes),
                _dash(p.segments),
            )
            for p in parts
        ],
        right=["PARTITION", "LOG-START-OFFSET", "LOG-END-OFFSET", "RECORDS", "SIZE", "SEGMENTS"],
    )
    partition_picture(parts, segments)
    defaults = {k: v for k, v in desc.config.items() if k not in desc.overrides}
    rows = []
    for key, value in desc.config.items():
        shown = f"{value}"
        if key.endswith(".ms") and isinstance(value, int):
            shown = f"{value} ({human_ms(value)})"
        elif key.endswith(".bytes") and isinstance(value, int) and value >= 1024:
            shown = f"{value} ({human_bytes(value)})"
        rows.append((key, shown, "default" if key in defaults else "set for this topic"))
    table(["CONFIG", "VALUE", "SOURCE"], rows)


def partition_picture(parts, segments: dict[int, list] | None) -> None:
    """Each partition as a row of offsets, left to right, on one scale for all partitions.

    With few records every offset is its own block under its number; with many, the row is
    scaled.  Segments alternate between two shades so their boundaries show; offsets already
    removed by retention are drawn as ░.  Reads at 80 columns and without colours.
    ``segments`` None (a cluster, which does not show them): one block per partition.
    """
    from types import SimpleNamespace

    from rich.text import Text

    con = console()
    width = min(con.width, 100)
    top = max((p.log_end_offset for p in parts), default=0)
    if segments is None:
        live = {
            p.partition: [
                SimpleNamespace(base_offset=p.log_start_offset, next_offset=p.log_end_offset)
            ]
            if p.log_end_offset > p.log_start_offset
            else []
            for p in parts
        }
    else:
        live = {
            p.partition: [s for s in segments.get(p.partition, []) if s.next_offset > s.base_offset]
            for p in parts
        }
    labels = []
    for p in parts:
        n = len(live[p.partition])
        records = p.log_end_offset - p.log_start_offset
        if records <= 0:
            labels.append("empty")
        elif segments is None:
            labels.append(f"{records} record{'s' if records != 1 else ''}")
        else:
            labels.append(f"{n} segment{'s' if n != 1 else ''}")
    label_width = max((len(x) for x in labels), default=5)
    name_width = len(str(max((p.partition for p in parts), default=0))) + 1
    bar = max(10, width - name_width - label_width - 4)
    cell = min(bar // top, 8) if top else 0
    styles = ("cyan", "blue")
    glyphs = ("█", "▓")
    legend = (
        "   █ records (no segments shown)   ░ removed by retention"
        if segments is None
        else "   █▓ segments (alternating)   ░ removed by retention"
    )
    con.print(Text.assemble(("Offsets, left to right", "bold"), (legend, "dim")))
    axis = Text(" " * (name_width + 2), style="dim")
    if cell >= 3:
        for o in range(top):
            axis.append(f"{o:<{cell}}"[:cell])
    elif top:
        axis.append(f"{0:<{bar - len(str(top - 1))}}{top - 1}")
    con.print(axis, no_wrap=True, overflow="crop")
    for p, label in zip(parts, labels, strict=True):
        text = Text(f" p{p.partition:<{name_width - 1}} ", style="bold")
        used = 0
        if cell >= 3:
            block = cell - 1
            text.append(("░" * block + " ") * p.log_start_offset, style="dim")
            for i, seg in enumerate(live[p.partition]):
                count = seg.next_offset - max(seg.base_offset, p.log_start_offset)
                text.append((glyphs[i % 2] * block + " ") * count, style=styles[i % 2])
            used = cell * p.log_end_offset
        elif top:
            used = round(p.log_start_offset * bar / top)
            text.append("░" * used, style="dim")
            for i, seg in enumerate(live[p.partition]):
                end = min(max(round(seg.next_offset * bar / top), used + 1), bar)
                if end > used:
                    text.append(glyphs[i % 2] * (end - used), style=styles[i % 2])
                    used = end
        text.append(" " * (max(bar, cell * top) - used + 1))
        text.append(label, style="dim")
        con.print(text, no_wrap=True, overflow="crop")


# -- log dump --------------------------------------------------------------------------------


def _short_time(ms: int) -> str:
    if ms is None or ms < 0:
        return "-"
    from datetime import datetime

    return datetime.fromtimestamp(ms / 1000).strftime("%m-%d %H:%M:%S")


class LogDump:
    """Renders ``kcli log dump`` as it walks the files: plain lines like kafka-dump-log,
    JSON Lines with a "type" field, or rich tables."""

    def __init__(self, form: str, topic: str, partition: int, *, show_records: bool):
        self.form = form
        self.topic = topic
        self.partition = partition
        self.show_records = show_records
        self.invalid = 0
        self._rows: list = []
        self._seg = None

    def _dir(self) -> str:
        return f"{self.topic}-{self.partition}"

    def segment(self, seg) -> None:
        self._seg = seg
        self._rows = []
        name = seg.path.name
        if self.form == JSON:
            json_line(
                {
                    "type": "segment",
                    "segment": name,
                    "base_offset": seg.base_offset,
                    "next_offset": seg.next_offset,
                    "size_bytes": seg.size_bytes,
                    "active": seg.active,
                }
            )
        elif self.form == PLAIN:
            line(f"Dumping {self._dir()}/{name}")
            line(f"Log starting offset: {seg.base_offset}")
        else:
            from rich.text import Text

            count = seg.next_offset - seg.base_offset
            console().print(
                Text.assemble(
                    ("Segment ", "bold"),
                    (f"{self._dir()}/{name}", "bold cyan"),
                    f"  offsets {seg.base_offset}..{seg.next_offset - 1}" if count else "  empty",
                    f", {human_bytes(seg.size_bytes)}",
                    (", active" if seg.active else ", closed", "dim"),
                )
            )

    def index(self, seg, entries) -> None:
        offsets, times = entries
        base = seg.path.name[: -len(".log")]
        if self.form == JSON:
            for offset, position in offsets:
                json_line(
                    {
                        "type": "index",
                        "segment": base + ".index",
                        "offset": offset,
                        "position": position,
                    }
                )
            for timestamp, offset in times:
                json_line(
                    {
                        "type": "timeindex",
                        "segment": base + ".timeindex",
                        "timestamp": timestamp,
                        "offset": offset,
                    }
                )
        elif self.form == PLAIN:
            line(f"Dumping {self._dir()}/{base}.index")
            for offset, position in offsets:
                line(f"offset: {offset} position: {position}")
            line(f"Dumping {self._dir()}/{base}.timeindex")
            for timestamp, offset in times:
                line(f"timestamp: {timestamp} offset: {offset}")
        else:
            from rich.table import Table

            grid = Table.grid(padding=(0, 2))
            grid.add_column(style="bold", no_wrap=True)
            grid.add_column()
            grid.add_row(
                "  .index",
                ", ".join(f"offset {o} → byte {p}" for o, p in offsets)
                if offsets
                else "[dim]no entries yet (one per index.interval.bytes of log): a read in "
                "this segment scans from byte 0[/]",
            )
            grid.add_row(
                "  .timeindex",
                ", ".join(f"{_short_time(t)} → offset {o}" for t, o in times)
                if times
                else "[dim]no entries yet[/]",
            )
            console().print(grid)

    def batch(self, b) -> None:
        h = b.header
        if not b.crc_valid:
            self.invalid += 1
        if self.form == JSON:
            json_line(
                {
                    "type": "batch",
                    "segment": b.segment,
                    "base_offset": h.base_offset,
                    "last_offset": h.last_offset,
                    "count": h.records_count,
                    "position": b.position,
                    "size_bytes": h.size,
                    "crc": h.crc,
                    "crc_valid": b.crc_valid,
                    "magic": h.magic,
                    "compression": h.compression,
                    "timestamp_type": h.timestamp_type,
                    "base_timestamp": h.base_timestamp,
                    "max_timestamp": h.max_timestamp,
                    "producer_id": h.producer_id,
                    "producer_epoch": h.producer_epoch,
                    "base_sequence": h.base_sequence,
                    "partition_leader_epoch": h.partition_leader_epoch,
                    "is_transactional": h.is_transactional,
                    "is_control": h.is_control,
                }
            )
            for _offset, position, record in b.records:
                text = record_json_slow(self.topic, self.partition, record)
                obj = json.loads(text)
                obj = {"type": "record", "position": position, **obj}
                json_line(obj)
            return
        if self.form == PLAIN:
            last_seq = h.base_sequence + h.last_offset_delta if h.base_sequence >= 0 else -1
            line(
                f"baseOffset: {h.base_offset} lastOffset: {h.last_offset} count: "
                f"{h.records_count} baseSequence: {h.base_sequence} lastSequence: {last_seq} "
                f"producerId: {h.producer_id} producerEpoch: {h.producer_epoch} "
                f"partitionLeaderEpoch: {h.partition_leader_epoch} isTransactional: "
                f"{str(h.is_transactional).lower()} isControl: {str(h.is_control).lower()} "
                f"position: {b.position} {h.timestamp_type}: {h.max_timestamp} size: {h.size} "
                f"magic: {h.magic} compresscodec: {h.compression} crc: {h.crc} "
                f"isvalid: {str(b.crc_valid).lower()}"
            )
            for offset, _position, r in b.records:
                keys = ", ".join(k for k, _ in r.headers)
                payload = "" if r.value is None else _show(r.value)
                key = "" if r.key is None else f" key: {_show(r.key)}"
                line(
                    f"| offset: {offset} {h.timestamp_type}: {r.timestamp} keySize: "
                    f"{-1 if r.key is None else len(r.key)} valueSize: "
                    f"{-1 if r.value is None else len(r.value)} sequence: "
                    f"{h.base_sequence + offset - h.base_offset if h.base_sequence >= 0 else -1} "
                    f"headerKeys: [{keys}]{key} payload: {payload}"
                )
            return
        valid = "[green]yes[/]" if b.crc_valid else "[bold red]NO[/]"
        row = (
            str(h.base_offset),
            str(h.last_offset),
            str(h.records_count),
            str(b.position),
            str(h.size),
            f"{h.crc:08x}",
            valid,
            _short_time(h.max_timestamp),
        )
        if not self.show_records:
            self._rows.append(row)
            return
        self._flush_rows()
        con = console()
        con.print(
            f"  [bold]batch {h.base_offset}..{h.last_offset}[/]  position {b.position}, "
            f"{h.size} B, CRC {h.crc:08x} {valid}, {h.records_count} record"
            f"{'s' if h.records_count != 1 else ''}, {_short_time(h.max_timestamp)}"
        )
        from rich.markup import escape

        for offset, position, r in b.records:
            key = "" if r.key is None else f"[cyan]{escape(_show(r.key))}[/] → "
            value = "[dim]null[/]" if r.value is None else escape(_show(r.value))
            headers = (
                "  [dim]["
                + escape(" ".join(f"{k}={_show(v or b'')}" for k, v in r.headers))
                + "][/]"
                if r.headers
                else ""
            )
            con.print(
                f"    [dim]offset[/] {offset:<6} [dim]pos[/] {position:<8} {key}{value}{headers}",
                overflow="ellipsis",
                no_wrap=True,
            )

    def _flush_rows(self) -> None:
        if self._rows:
            table(
                ["BASE", "LAST", "COUNT", "POSITION", "SIZE", "CRC-32C", "VALID", "MAX TIME"],
                self._rows,
                right=["BASE", "LAST", "COUNT", "POSITION", "SIZE"],
            )
            self._rows = []

    def torn_tail(self, t) -> None:
        message = (
            f"{t.size} bytes at position {t.position} of {t.segment} are not a whole batch "
            f"(a write cut short); recovery truncates them"
        )
        if self.form == JSON:
            json_line(
                {
                    "type": "torn_tail",
                    "segment": t.segment,
                    "position": t.position,
                    "size_bytes": t.size,
                }
            )
        elif self.form == PLAIN:
            line(f"Incomplete batch at position: {t.position} size: {t.size}")
        else:
            self._flush_rows()
            console().print(f"  [yellow]{message}[/]")

    def end_segment(self) -> None:
        if self.form == TABLE:
            if not self._rows and self._seg is not None and self._seg.size_bytes == 0:
                console().print("[dim]  (no batches yet)[/]")
            self._flush_rows()

    def finish(self) -> None:
        if self.invalid:
            note(
                f"Warning: {self.invalid} batch{'es' if self.invalid != 1 else ''} with a CRC-32C "
                f"that does not match the data: the file is damaged"
            )


# -- info and perf ---------------------------------------------------------------------------


def store_info(data: dict, form: str) -> None:
    """What ``kcli info`` shows: the local store (``data_dir``) or a cluster
    (``bootstrap_servers``)."""
    if form == JSON:
        json_line(data)
    elif form == PLAIN:
        for key, value in data.items():
            line(f"{key}: {value}")
    else:
        rows = [("Version", f"kcli {data['version']}")]
        if "data_dir" in data:
            rows.append(("Data directory", data["data_dir"]))
        else:
            security = data["security_protocol"]
            if data.get("sasl_mechanism"):
                security += f" ({data['sasl_mechanism']})"
            rows += [
                ("Kafka cluster", data["bootstrap_servers"]),
                ("Chosen by", data["from"]),
                ("Security", security),
                ("Brokers", str(data["brokers"])),
            ]
        rows += [
            ("Cluster id", data["cluster_id"]),
            ("Topics", f"{data['topics']} ({data['partitions']} partitions)"),
        ]
        if "size_bytes" in data:
            rows.append(("Size on disk", human_bytes(data["size_bytes"])))
        rows.append(("Config file", data["config_file"]))
        from rich import box
        from rich.table import Table

        t = Table(box=box.SIMPLE, show_header=False, pad_edge=False)
        t.add_column(style="bold")
        t.add_column(overflow="fold")
        for row in rows:
            t.add_row(*row)
        console().print(t)


def perf_report(kind: str, r: dict, form: str) -> None:
    """Throughput and latency, worded as Kafka's perf-test tools word them."""
    if form == JSON:
        json_line({"test": kind, **r})
        return
    if form == PLAIN:
        if kind == "produce":
            line(
                f"{r['records']} records sent, {r['records_per_sec']:.1f} records/sec "
                f"({r['mb_per_sec']:.2f} MB/sec), {r['avg_latency_ms']:.2f} ms avg latency, "
                f"{r['max_latency_ms']:.2f} ms max latency, {r['p50_latency_ms']:.2f} ms 50th, "
                f"{r['p95_latency_ms']:.2f} ms 95th, {r['p99_latency_ms']:.2f} ms 99th, "
                f"{r['p999_latency_ms']:.2f} ms 99.9th."
            )
        else:
            line(
                f"{r['records']} records consumed, {r['records_per_sec']:.1f} records/sec "
                f"({r['mb_per_sec']:.2f} MB/sec), {r['avg_latency_ms']:.2f} ms avg poll "
                f"latency, {r['p50_latency_ms']:.2f} ms 50th, {r['p99_latency_ms']:.2f} ms "
                f"99th, {r['max_latency_ms']:.2f} ms max."
            )
        return
    latency = "delivery latency" if kind == "produce" else "consume() latency"
    table(
        ["", "VALUE"],
        [
            ("records", f"{r['records']:,}"),
            ("time", f"{r['elapsed_s']:.2f} s"),
            ("throughput", f"{r['records_per_sec']:,.0f} records/s"),
            ("", f"{r['mb_per_sec']:.2f} MB/s"),
            (f"{latency} avg", f"{r['avg_latency_ms']:.2f} ms"),
            ("p50 / p95", f"{r['p50_latency_ms']:.2f} / {r['p95_latency_ms']:.2f} ms"),
            ("p99 / p99.9", f"{r['p99_latency_ms']:.2f} / {r['p999_latency_ms']:.2f} ms"),
            ("max", f"{r['max_latency_ms']:.2f} ms"),
        ],
        title=f"kcli perf {kind}",
        right=["VALUE"],
    )
