"""Consumed records on stdout: JSON Lines, kcat-style ``--format`` strings, plain values
and the coloured terminal form (``RecordWriter``)."""

# Start-up: kcli.render is imported by every command that prints, a one-record `kcli produce`
# included, so rich's tables, text and live views are imported where they are used.

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Sequence
from json.encoder import encode_basestring as _json_str
from operator import itemgetter

from kcli.render.output import JSON, TABLE, colors

# Fields of a storage Record tuple (offset, timestamp, key, value, headers).
_KEY, _VALUE, _HEADERS = itemgetter(2), itemgetter(3), itemgetter(4)
# What the table and plain forms show for a record whose value is null: with a key it is a
# tombstone (compaction deletes the key); JSON says "value": null and --format's %s prints
# nothing (%S prints -1), as kcat does.
TOMBSTONE = "(tombstone)"
NULL_VALUE = "(null)"
# The plain form's value token: the value, or one of the markers above.
_PLAIN_VALUE = "plain-value"


def _b64(data: bytes) -> str:
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
            self._format = compile_format("".join(parts)) + [
                (_PLAIN_VALUE, None),
                (None, b"\n"),
            ]
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
            if value is not None:
                text = _show(value)
            else:
                text = f"{dim}{TOMBSTONE if key is not None else NULL_VALUE}{reset}"
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
    if kind == _PLAIN_VALUE:
        if value is not None:
            return value
        return (TOMBSTONE if key is not None else NULL_VALUE).encode()
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
