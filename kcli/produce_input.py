"""What `kcli produce` reads: values from arguments or stdin lines, checked before they are queued.

Every rule about an input line lives here, so that a bad line is refused before anything
from it reaches the producer:

* stdin is cut into lines in time linear in its length, and a line longer than the topic's
  max.message.bytes (as JSON: six times that, the most a record's bytes can take when
  spelt ``\\u00XX``) is refused as soon as that many bytes of it have been read;
* a ``--input json`` line is an object whose fields have the types and ranges a record can
  hold: ``value``/``key`` strings or null (a null value is a tombstone), ``timestamp``
  milliseconds in 0..9999-12-31, ``partition`` a whole number, headers ``[key, value]``
  pairs with text keys;
* header keys are text: Kafka stores them as UTF-8 strings.

``Feeder`` hands the checked lines to the producer and remembers which lines were queued,
so that an error can say exactly what was stored before it ("stored lines 1-4").
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import select
import stat

from kcli.client.types import MAX_TIMESTAMP_MS, timestamp_is_valid

# Stdin is read in chunks of this many bytes and handed to the producer this many lines at a
# time; memory stays constant however long the input is.
READ_BYTES = 1 << 20
LINES_PER_CALL = 10_000
# A byte of a record can take up to six characters in a JSON line ("\u0001").
JSON_BYTES_PER_RECORD_BYTE = 6
JSON_EXAMPLE = '{"key": "k", "value": "v"}'


class BadLine(Exception):
    """A line of input that cannot become a record (the message says which and why)."""


def header_key_problem(key: str, *, typed: bool) -> str | None:
    """Why ``key`` cannot be a header key, or None: Kafka's header keys are UTF-8 strings.
    ``typed``: the key comes from the command line (its bad bytes are shown as \\xNN), else
    from JSON (its lone surrogates are shown as \\uDXXX)."""
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        if typed:
            shown = key.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        else:
            shown = key.encode("ascii", "backslashreplace").decode("ascii")
        return f"header key '{shown}' is not UTF-8 text; header keys are UTF-8 strings in Kafka"
    return None


def command_line_headers(pairs: dict[str, str]) -> list[tuple[str, bytes]]:
    """``--header KEY=VALUE`` pairs as record headers (values exactly as typed); raises
    ValueError naming a key that is not UTF-8."""
    out = []
    for hkey, hvalue in pairs.items():
        problem = header_key_problem(hkey, typed=True)
        if problem is not None:
            raise ValueError(problem)
        out.append((hkey, hvalue.encode("utf-8", "surrogateescape")))
    return out


def line_limit(max_message_bytes: int | None, *, json_input: bool) -> int | None:
    """The longest input line that can still become a record of the topic (None: unknown)."""
    if max_message_bytes is None:
        return None
    return max_message_bytes * (JSON_BYTES_PER_RECORD_BYTE if json_input else 1)


def _too_long(where: str, limit: int, json_input: bool) -> BadLine:
    why = (
        f"{JSON_BYTES_PER_RECORD_BYTE} x the topic's max.message.bytes, the most a record "
        f"can take as a JSON line"
        if json_input
        else "the topic's max.message.bytes: a record cannot be larger"
    )
    return BadLine(
        f"{where} is longer than {limit} bytes ({why}); split it, or raise the limit with "
        f"kcli topic alter TOPIC --config max.message.bytes=N"
    )


class Feeder:
    """Turns lines into producer calls; knows which lines were queued, for errors."""

    def __init__(self, producer, session, topic, *, key, partition, headers, separator, json_input):
        self.producer = producer
        self.session = session
        self.topic = topic
        self.key = key
        self.partition = partition
        self.headers = headers
        self.separator = separator
        self.json_input = json_input
        self.source = "line"
        self.last_where = ""
        self.first_queued: int | None = None  # numbers of the first and last lines queued
        self.last_queued: int | None = None

    def _queued(self, first: int, last: int) -> None:
        if self.first_queued is None:
            self.first_queued = first
        self.last_queued = last

    def queued_phrase(self) -> str:
        """Which lines were handed to the producer: 'lines 1-4', 'line 1' or ''."""
        first, last = self.first_queued, self.last_queued
        if first is None:
            return ""
        return f"{self.source} {first}" if first == last else f"{self.source}s {first}-{last}"

    def feed(self, lines: list[bytes], source: str, first_number: int) -> None:
        self.source = source
        if self.json_input or self.separator is not None:
            self._feed_one_by_one(lines, source, first_number)
            return
        # Plain values: the bulk path, one call per chunk.
        session = self.session
        for lo in range(0, len(lines), LINES_PER_CALL):
            chunk = lines[lo : lo + LINES_PER_CALL]
            try:
                self.producer.produce_many(
                    self.topic, chunk, self.key, self.partition, self.headers, session.report
                )
            except Exception as exc:
                queued = getattr(exc, "queued", 0)
                session.queued += queued
                if queued:
                    self._queued(first_number + lo, first_number + lo + queued - 1)
                self.last_where = f"{source} {first_number + lo + queued}"
                raise
            session.queued += len(chunk)
            self._queued(first_number + lo, first_number + lo + len(chunk) - 1)
            self.producer.poll(0)
            session.emit()

    def _feed_one_by_one(self, lines, source: str, first_number: int) -> None:
        produce = self.producer.produce
        report = self.session.report
        for i, raw in enumerate(lines):
            number = first_number + i
            where = f"{source} {number}"
            self.last_where = where
            if self.json_input:
                value, key, headers, partition, timestamp = parse_json_line(raw, where)
                if self.partition >= 0:
                    partition = self.partition
                headers = self.headers + headers if self.headers else headers
            else:
                key, sep, value = raw.partition(self.separator)
                if not sep:
                    shown = self.separator.decode("utf-8", "replace")
                    raise BadLine(
                        f"{where} has no key separator '{shown}'; write each line as "
                        f"KEY{shown}VALUE"
                    )
                partition, timestamp, headers = self.partition, 0, self.headers
            produce(self.topic, value, key, partition, report, timestamp, headers)
            self.session.queued += 1
            self._queued(number, number)
            if i % 1000 == 999:
                self.producer.poll(0)
                self.session.emit()
        self.last_where = ""
        self.producer.poll(0)
        self.session.emit()


class Stdin:
    """Stdin, read in big chunks and cut into lines; constant memory however long it is
    (except for one line, which may be as long as ``limit``)."""

    def __init__(self, stream):
        self.fd = stream.fileno()
        try:
            st = os.fstat(self.fd)
            self.total = st.st_size if stat.S_ISREG(st.st_mode) else None
        except OSError:
            self.total = None
        self.buffered: list[bytes] = []
        self.eof = False

    def small(self) -> bool:
        """Read ahead up to one chunk: is that all there is?  (Never waits for a typist.)"""
        got = 0
        while got < READ_BYTES:
            if self.buffered and not _readable(self.fd):
                return False
            chunk = os.read(self.fd, READ_BYTES)
            if not chunk:
                self.eof = True
                return True
            self.buffered.append(chunk)
            got += len(chunk)
        return False

    def chunks(self, producer, session):
        yield from self.buffered
        self.buffered = []
        while not self.eof:
            if len(producer) and not _readable(self.fd):
                # Nothing more to read right now (someone typing, or tail -f): make what we
                # have durable before waiting.
                producer.flush()
                session.emit()
            chunk = os.read(self.fd, READ_BYTES)
            if not chunk:
                return
            yield chunk

    def feed_all(self, feeder: Feeder, limit: int | None) -> None:
        """Every line to ``feeder``; a line longer than ``limit`` bytes is a BadLine raised
        as soon as that many bytes of it are read (the lines before it are fed first)."""
        from kcli import render

        number = 1
        # The start of a line whose end has not been read yet, in pieces: joined once when
        # its newline comes, so a long line costs time linear in its length.
        pending: list[bytes] = []
        pending_bytes = 0
        json_input = feeder.json_input

        def too_long(n: int) -> BadLine:
            return _too_long(f"line {n}", limit, json_input)

        unit = "bytes" if self.total else "records"
        with render.progress(f"Producing to {feeder.topic}", self.total, unit) as bar:
            for chunk in self.chunks(feeder.producer, feeder.session):
                fed = 0
                if pending:
                    newline = chunk.find(b"\n")
                    end = len(chunk) if newline < 0 else newline
                    pending.append(chunk[:end] if newline >= 0 else chunk)
                    pending_bytes += end
                    if limit is not None and pending_bytes > limit:
                        raise too_long(number)
                    if newline < 0:
                        bar.advance(len(chunk) if self.total else 0)
                        continue
                    line = b"".join(pending)
                    pending, pending_bytes = [], 0
                    feed_lines(feeder, [line], number)
                    number += 1
                    fed = 1
                    chunk = chunk[newline + 1 :]
                lines = chunk.split(b"\n")
                rest = lines.pop()
                if lines:
                    if limit is not None and max(map(len, lines)) > limit:
                        bad = next(i for i, x in enumerate(lines) if len(x) > limit)
                        if bad:
                            feed_lines(feeder, lines[:bad], number)
                        raise too_long(number + bad)
                    feed_lines(feeder, lines, number)
                    number += len(lines)
                    fed += len(lines)
                if rest:
                    if limit is not None and len(rest) > limit:
                        raise too_long(number)
                    pending, pending_bytes = [rest], len(rest)
                bar.advance(len(chunk) if self.total else fed)
            if pending:
                feed_lines(feeder, [b"".join(pending)], number)


def feed_lines(feeder: Feeder, lines: list[bytes], first: int) -> None:
    """``lines`` (numbered from ``first``) to the feeder: CRLF endings cut, empty lines
    skipped (numbering still counts them, for error messages)."""
    if b"\r" in lines[0] or b"\r" in lines[-1]:
        lines = [x[:-1] if x.endswith(b"\r") else x for x in lines]
    if b"" in lines:
        numbered = [(first + i, x) for i, x in enumerate(lines) if x]
        start = 0
        while start < len(numbered):
            end = start
            while end + 1 < len(numbered) and numbered[end + 1][0] == numbered[end][0] + 1:
                end += 1
            feeder.feed([x for _, x in numbered[start : end + 1]], "line", numbered[start][0])
            start = end + 1
        return
    feeder.feed(lines, "line", first)


def _readable(fd: int) -> bool:
    try:
        return bool(select.select([fd], [], [], 0)[0])
    except (OSError, ValueError):
        return True


def _whole_number(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_json_line(raw: bytes, where: str):
    """One line of ``--input json`` -> (value, key, headers, partition, timestamp); a
    BadLine naming ``where`` and the field otherwise.  A null value stays None (a
    tombstone); a missing or null timestamp, or -1, is 0 (the producer's "now")."""
    try:
        obj = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
        raise BadLine(
            f"{where} is not valid JSON ({detail}); each line must be an object like {JSON_EXAMPLE}"
        ) from None
    except RecursionError:
        raise BadLine(
            f"{where} is JSON nested too deeply to read; each line must be one flat object "
            f'like {JSON_EXAMPLE} (only "headers" holds [key, value] pairs)'
        ) from None
    if not isinstance(obj, dict):
        raise BadLine(f"{where} is a JSON {type(obj).__name__}, not an object like {JSON_EXAMPLE}")

    def blob(name: str) -> bytes | None:
        b64 = obj.get(f"{name}_b64")
        if b64 is not None:
            if not isinstance(b64, str):
                raise BadLine(f'{where}: "{name}_b64" must be a base64 string')
            try:
                return base64.b64decode(b64, validate=True)
            except (binascii.Error, ValueError):
                raise BadLine(f'{where}: "{name}_b64" is not valid base64') from None
        text = obj.get(name)
        if text is None:
            return None
        if not isinstance(text, str):
            hint = (
                f" (write {json.dumps(json.dumps(text))} for text)"
                if isinstance(text, (int, float))
                else ""
            )
            raise BadLine(
                f'{where}: "{name}" must be a string or null, not a JSON '
                f"{type(text).__name__}{hint}"
            )
        return text.encode("utf-8", "surrogatepass")

    if "value" not in obj and "value_b64" not in obj:
        raise BadLine(f'{where} has no "value"; each line must be an object like {JSON_EXAMPLE}')
    value = blob("value")
    key = blob("key")
    headers = _json_headers(obj, where)
    partition = obj.get("partition", -1)
    if partition is None:
        partition = -1
    if not _whole_number(partition) or partition < -1:
        raise BadLine(f'{where}: "partition" must be a whole number >= 0, not {partition!r}')
    timestamp = obj.get("timestamp", 0)
    if timestamp is None or timestamp == -1:
        timestamp = 0
    if not timestamp_is_valid(timestamp):
        shown = repr(timestamp) if len(repr(timestamp)) <= 30 else repr(timestamp)[:27] + "..."
        raise BadLine(
            f'{where}: "timestamp" must be milliseconds since the epoch, a whole number from 0 '
            f"to {MAX_TIMESTAMP_MS} (9999-12-31), or -1/null for now; not {shown}"
        )
    return value, key, headers, partition, timestamp


def _json_headers(obj: dict, where: str) -> list:
    exact = obj.get("headers_b64")
    source = exact if exact is not None else obj.get("headers")
    if source is None:
        return []
    if isinstance(source, dict):
        source = list(source.items())
    if not isinstance(source, list):
        raise BadLine(f'{where}: "headers" must be a list of [key, value] pairs')
    out = []
    for item in source:
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str)):
            raise BadLine(f"{where}: each header must be a [key, value] pair with a string key")
        hkey, hvalue = item
        problem = header_key_problem(hkey, typed=False)
        if problem is not None:
            raise BadLine(f"{where}: {problem}")
        if hvalue is None:
            out.append((hkey, None))
        elif not isinstance(hvalue, str):
            raise BadLine(f'{where}: header "{hkey}" value must be a string or null')
        elif exact is not None:
            try:
                out.append((hkey, base64.b64decode(hvalue, validate=True)))
            except (binascii.Error, ValueError):
                raise BadLine(f'{where}: header "{hkey}" in "headers_b64" is not base64') from None
        else:
            out.append((hkey, hvalue.encode("utf-8", "surrogatepass")))
    return out
