"""`kcli produce`: write records to a topic, from arguments or from stdin (one per line)."""

from typing import Literal

import typer

from kcli.commands._common import Output, backend, client_error, output_option, parse_pairs

# Stdin is read in chunks of this many bytes and handed to the producer this many lines at a
# time; memory stays constant however long the input is.
_READ_BYTES = 1 << 20
_LINES_PER_CALL = 10_000
# Delivery reports kept for the summary line; beyond that only counts are kept (fast path).
_SUMMARY_DETAIL = 100

INPUT_HELP = (
    "text (default): each VALUE or stdin line is a record's value. json: each is an object "
    '{"value", "key", "headers", "partition", "timestamp"} - exactly what '
    "'kcli consume -o json' prints (other fields are ignored)."
)


def produce(
    topic: str = typer.Argument(..., help="Topic to write to.", metavar="TOPIC"),
    values: list[str] | None = typer.Argument(
        None,
        help="Record values, one record each. Without any, each line of stdin is a record "
        "(empty lines are skipped).",
        show_default=False,
        metavar="VALUE...",
    ),
    key: str | None = typer.Option(
        None,
        "--key",
        "-k",
        help="Key for every record (its hash picks the partition).",
        metavar="KEY",
    ),
    partition: int | None = typer.Option(
        None,
        "--partition",
        "-p",
        help="Write to this partition (default: by key hash, else round-robin).",
        metavar="P",
    ),
    header: list[str] = typer.Option(
        [],
        "--header",
        "-H",
        metavar="KEY=VALUE",
        help="A header for every record. Repeat for several.",
        show_default=False,
    ),
    key_separator: str | None = typer.Option(
        None,
        "--key-separator",
        "-K",
        help="Split each line into KEY and VALUE at the first SEP (e.g. ':').",
        metavar="SEP",
    ),
    input_format: Literal["text", "json"] = typer.Option(
        "text", "--input", "-i", help=INPUT_HELP, metavar="FORM"
    ),
    output: Output | None = output_option(),
) -> None:
    """Write records to a topic; exit status 0 means every record is stored (fsynced on the local store; acknowledged by every in-sync replica on a cluster).

    Values come from the arguments, or else one per line of stdin, streamed in batches (constant memory, any length).

    With -o json one line per record written, {"topic", "partition", "offset"}, in the order they were written (partition by partition); otherwise a summary on stderr.

    If a line is bad (malformed JSON, no key separator, too large) the records before it are kept and reported, nothing from the bad line on is written, and the exit status is 1.
    """
    import sys
    import time

    from kcli import render
    from kcli.errors import KcliError

    if key is not None and key_separator is not None:
        raise typer.BadParameter("use either --key or --key-separator, not both")
    if input_format == "json" and (key is not None or key_separator is not None):
        raise typer.BadParameter('with --input json the key comes from each line\'s "key"')
    if key_separator == "":
        raise typer.BadParameter(
            "the key separator cannot be empty", param_hint="'--key-separator'"
        )
    headers = [
        (k, v.encode("utf-8", "surrogateescape"))
        for k, v in parse_pairs(header, "--header").items()
    ]

    b = backend()
    meta = b.topic(topic)
    if partition is not None and not 0 <= partition < meta.partitions:
        raise KcliError(
            f"topic '{topic}' has {meta.partitions} partition(s), numbered "
            f"0..{meta.partitions - 1}; partition {partition} does not exist"
        )

    from kcli.client.types import KafkaException

    json_out = render.resolve(output) == render.JSON
    if values:
        lines, more, source = (
            [v.encode("utf-8", "surrogateescape") for v in values],
            None,
            "argument",
        )
    else:
        lines, more, source = [], _Stdin(sys.stdin.buffer), "line"
    # Small inputs get a delivery report per record, for -o json and for a summary that says
    # where each record went; big ones only report failures, which keeps them fast.
    detail = json_out or more is None or more.small()
    session = _Deliveries(topic, json_out=json_out, detail=detail)
    producer = b.producer({"linger.ms": 1000, "delivery.report.only.error": not detail})
    started = time.monotonic()
    feeder = _Feeder(
        producer,
        session,
        topic,
        key=None if key is None else key.encode("utf-8", "surrogateescape"),
        partition=-1 if partition is None else partition,
        headers=headers,
        separator=None
        if key_separator is None
        else key_separator.encode("utf-8", "surrogateescape"),
        json_input=input_format == "json",
    )
    try:
        if more is None:
            feeder.feed(lines, source, 1)
        else:
            more.feed_all(feeder)
        producer.flush()
        session.emit()
    except (_BadLine, KafkaException, KeyboardInterrupt) as exc:
        # Everything queued came before the bad line: keep it (nothing after it was queued).
        producer.flush()
        session.emit()
        if isinstance(exc, KeyboardInterrupt):
            session.summary(time.monotonic() - started)
            raise
        reason = str(exc) if isinstance(exc, _BadLine) else str(client_error(exc))
        if isinstance(exc, KafkaException) and feeder.last_where:
            reason = f"{feeder.last_where}: {reason}"
        raise KcliError(f"{reason}; {session.kept_phrase()}") from None
    finally:
        producer.close()
    if session.errors:
        raise KcliError(f"{session.errors[0]}; {session.kept_phrase()}")
    if not session.json_out:
        session.summary(time.monotonic() - started)


class _BadLine(Exception):
    """A line of input that cannot become a record (message says which and why)."""


class _Deliveries:
    """Delivery reports: JSON lines to print, counts and offset ranges for the summary."""

    def __init__(self, topic: str, *, json_out: bool, detail: bool):
        from json.encoder import encode_basestring

        self.topic = topic
        self.json_out = json_out
        self.detail = detail  # a report per record (else reports of failures only)
        self.queued = 0  # records handed to the producer
        self.delivered = 0  # success reports received (detail mode)
        self.ranges: dict[int, list[int]] = {}
        self.errors: list[str] = []
        self.pending: list[str] = []
        self._prefix = '{"topic":' + encode_basestring(topic) + ',"partition":'
        self.report = self._report  # one bound method, compared by identity

    def _report(self, err, msg) -> None:
        if err is not None:
            self.errors.append(err.str())
            return
        partition, offset = msg[1], msg[2]
        self.delivered += 1
        if self.json_out:
            self.pending.append(f'{self._prefix}{partition},"offset":{offset}}}\n')
        r = self.ranges.get(partition)
        if r is None:
            self.ranges[partition] = [offset, offset]
        else:
            r[0] = min(r[0], offset)
            r[1] = max(r[1], offset)

    def emit(self) -> None:
        if self.pending:
            import sys

            sys.stdout.write("".join(self.pending))
            sys.stdout.flush()
            self.pending = []

    def written(self) -> int:
        return self.delivered if self.detail else self.queued - len(self.errors)

    def kept_phrase(self) -> str:
        n = self.written()
        if n <= 0:
            return "nothing was written"
        return (
            f"the {n} record{'s' if n != 1 else ''} before it {'were' if n != 1 else 'was'} written"
        )

    def summary(self, seconds: float) -> None:
        from kcli import render

        n = self.written()
        if n == 0:
            render.note(f"No records to produce to {self.topic} (the input was empty).")
            return
        what = f"Produced {n:,} record{'s' if n != 1 else ''} to {self.topic}"
        if self.detail and self.ranges:
            where = []
            for p in sorted(self.ranges):
                lo, hi = self.ranges[p]
                where.append(f"partition {p} offset{f's {lo}..{hi}' if hi > lo else f' {lo}'}")
            render.note(f"{what}: {', '.join(where)}.")
        else:
            rate = f", {n / seconds:,.0f} records/s" if seconds > 0 and n >= 10_000 else ""
            render.note(f"{what} in {seconds:.2f} s{rate}.")


class _Feeder:
    """Turns lines into producer calls; knows where each line came from for errors."""

    def __init__(self, producer, session, topic, *, key, partition, headers, separator, json_input):
        self.producer = producer
        self.session = session
        self.topic = topic
        self.key = key
        self.partition = partition
        self.headers = headers
        self.separator = separator
        self.json_input = json_input
        self.last_where = ""

    def feed(self, lines: list[bytes], source: str, first_number: int) -> None:
        if self.json_input or self.separator is not None:
            self._feed_one_by_one(lines, source, first_number)
            return
        # Plain values: the bulk path, one call per chunk.
        session = self.session
        for lo in range(0, len(lines), _LINES_PER_CALL):
            chunk = lines[lo : lo + _LINES_PER_CALL]
            try:
                self.producer.produce_many(
                    self.topic, chunk, self.key, self.partition, self.headers, session.report
                )
            except Exception as exc:
                queued = getattr(exc, "queued", 0)
                session.queued += queued
                self.last_where = f"{source} {first_number + lo + queued}"
                raise
            session.queued += len(chunk)
            self.producer.poll(0)
            session.emit()

    def _feed_one_by_one(self, lines, source: str, first_number: int) -> None:
        produce = self.producer.produce
        report = self.session.report
        for i, raw in enumerate(lines):
            where = f"{source} {first_number + i}"
            self.last_where = where
            if self.json_input:
                value, key, headers, partition, timestamp = _parse_json(raw, where)
                if self.partition >= 0:
                    partition = self.partition
                headers = self.headers + headers if self.headers else headers
            else:
                key, sep, value = raw.partition(self.separator)
                if not sep:
                    shown = self.separator.decode("utf-8", "replace")
                    raise _BadLine(
                        f"{where} has no key separator '{shown}'; write each line as "
                        f"KEY{shown}VALUE"
                    )
                partition, timestamp, headers = self.partition, 0, self.headers
            produce(self.topic, value, key, partition, report, timestamp, headers)
            self.session.queued += 1
            if i % 1000 == 999:
                self.producer.poll(0)
                self.session.emit()
        self.last_where = ""
        self.producer.poll(0)
        self.session.emit()


class _Stdin:
    """Stdin, read in big chunks and cut into lines; constant memory however long it is."""

    def __init__(self, stream):
        import os
        import stat

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
        import os
        import select

        got = 0
        while got < _READ_BYTES:
            if self.buffered and not _readable(select, self.fd):
                return False
            chunk = os.read(self.fd, _READ_BYTES)
            if not chunk:
                self.eof = True
                return True
            self.buffered.append(chunk)
            got += len(chunk)
        return False

    def chunks(self, producer, session):
        import os
        import select

        yield from self.buffered
        self.buffered = []
        while not self.eof:
            if len(producer) and not _readable(select, self.fd):
                # Nothing more to read right now (someone typing, or tail -f): make what we
                # have durable before waiting.
                producer.flush()
                session.emit()
            chunk = os.read(self.fd, _READ_BYTES)
            if not chunk:
                return
            yield chunk

    def feed_all(self, feeder: _Feeder) -> None:
        from kcli import render

        number = 1
        rest = b""
        unit = "bytes" if self.total else "records"
        with render.progress(f"Producing to {feeder.topic}", self.total, unit) as bar:
            for chunk in self.chunks(feeder.producer, feeder.session):
                lines = (rest + chunk).split(b"\n") if rest else chunk.split(b"\n")
                rest = lines.pop()
                if lines:
                    first = number
                    number += len(lines)
                    _feed_lines(feeder, lines, first)
                bar.advance(len(chunk) if self.total else len(lines))
            if rest:
                _feed_lines(feeder, [rest], number)


def _feed_lines(feeder: _Feeder, lines: list[bytes], first: int) -> None:
    if b"\r" in lines[0] or b"\r" in lines[-1]:
        lines = [x[:-1] if x.endswith(b"\r") else x for x in lines]
    if b"" in lines:
        # Empty lines are skipped, but numbering still counts them for error messages.
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


def _readable(select, fd: int) -> bool:
    try:
        return bool(select.select([fd], [], [], 0)[0])
    except (OSError, ValueError):
        return True


def _parse_json(raw: bytes, where: str):
    """One line of ``--input json`` -> (value, key, headers, partition, timestamp)."""
    import base64
    import binascii
    import json

    example = '{"key": "k", "value": "v"}'
    try:
        obj = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
        raise _BadLine(
            f"{where} is not valid JSON ({detail}); each line must be an object like {example}"
        ) from None
    if not isinstance(obj, dict):
        raise _BadLine(f"{where} is a JSON {type(obj).__name__}, not an object like {example}")

    def blob(name: str) -> bytes | None:
        b64 = obj.get(f"{name}_b64")
        if b64 is not None:
            if not isinstance(b64, str):
                raise _BadLine(f'{where}: "{name}_b64" must be a base64 string')
            try:
                return base64.b64decode(b64, validate=True)
            except (binascii.Error, ValueError):
                raise _BadLine(f'{where}: "{name}_b64" is not valid base64') from None
        text = obj.get(name)
        if text is None:
            return None
        if not isinstance(text, str):
            raise _BadLine(
                f'{where}: "{name}" must be a string or null, not {type(text).__name__} '
                f"(write {json.dumps(str(text))} for text)"
            )
        return text.encode("utf-8", "surrogatepass")

    if "value" not in obj and "value_b64" not in obj:
        raise _BadLine(f'{where} has no "value"; each line must be an object like {example}')
    value = blob("value")
    key = blob("key")
    headers = _json_headers(obj, where)
    partition = obj.get("partition", -1)
    if partition is None:
        partition = -1
    if not isinstance(partition, int) or isinstance(partition, bool) or partition < -1:
        raise _BadLine(f'{where}: "partition" must be a whole number >= 0')
    timestamp = obj.get("timestamp", 0)
    if timestamp is None or timestamp == -1:
        timestamp = 0
    if not isinstance(timestamp, int) or isinstance(timestamp, bool) or timestamp < 0:
        raise _BadLine(f'{where}: "timestamp" must be milliseconds since the epoch (>= 0)')
    return value, key, headers, partition, timestamp


def _json_headers(obj: dict, where: str) -> list:
    import base64
    import binascii

    exact = obj.get("headers_b64")
    source = exact if exact is not None else obj.get("headers")
    if source is None:
        return []
    if isinstance(source, dict):
        source = list(source.items())
    if not isinstance(source, list):
        raise _BadLine(f'{where}: "headers" must be a list of [key, value] pairs')
    out = []
    for item in source:
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str)):
            raise _BadLine(f"{where}: each header must be a [key, value] pair with a string key")
        hkey, hvalue = item
        if hvalue is None:
            out.append((hkey, None))
        elif not isinstance(hvalue, str):
            raise _BadLine(f'{where}: header "{hkey}" value must be a string or null')
        elif exact is not None:
            try:
                out.append((hkey, base64.b64decode(hvalue, validate=True)))
            except (binascii.Error, ValueError):
                raise _BadLine(f'{where}: header "{hkey}" in "headers_b64" is not base64') from None
        else:
            out.append((hkey, hvalue.encode("utf-8", "surrogatepass")))
    return out
