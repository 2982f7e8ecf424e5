"""`kcli produce`: write records to a topic, from arguments or from stdin (one per line)."""

from typing import Literal

import typer

from kcli.commands._common import (
    ACKS_HELP,
    COMPRESSION_HELP,
    Acks,
    Compression,
    Output,
    backend,
    client_error,
    output_option,
    producer_settings,
)

INPUT_HELP = (
    "text (default): each VALUE or stdin line is a record's value. json: each is an object "
    '{"value", "key", "headers", "partition", "timestamp"} - exactly what '
    "'kcli consume -o json' prints (other fields are ignored); \"value\": null is a tombstone."
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
    tombstone: bool = typer.Option(
        False,
        "--tombstone",
        help="Write one record with --key KEY and a null value: a tombstone, which deletes "
        "KEY from a compacted topic.",
        metavar="",
    ),
    compression: Compression | None = typer.Option(
        None, "--compression", "-z", help=COMPRESSION_HELP, metavar="CODEC", show_default=False
    ),
    acks: Acks | None = typer.Option(
        None, "--acks", help=ACKS_HELP, metavar="ACKS", show_default=False
    ),
    output: Output | None = output_option(),
) -> None:
    """Write records to a topic; exit status 0 means every record is stored (fsynced on the local store; on a cluster, acknowledged as --acks asks).

    Values come from the arguments, or else one per line of stdin, streamed in batches (constant memory, any length).

    With -o json one line per record written, {"topic", "partition", "offset"}, in the order they were written (partition by partition); otherwise a summary on stderr.

    Every line is checked before it is queued (JSON fields and their ranges, header keys, a line longer than the topic's max.message.bytes). At a bad line the run stops with one error naming the line and what is wrong: the records of the lines before it are stored and named ("stored lines 1-4"), nothing from the bad line on is written, and the exit status is 1.
    """
    import sys
    import time

    from kcli import produce_input, render
    from kcli.client.types import KafkaException
    from kcli.commands._common import parse_pairs
    from kcli.errors import KcliError

    if key is not None and key_separator is not None:
        raise typer.BadParameter("use either --key or --key-separator, not both")
    if input_format == "json" and (key is not None or key_separator is not None):
        raise typer.BadParameter('with --input json the key comes from each line\'s "key"')
    if key_separator == "":
        raise typer.BadParameter(
            "the key separator cannot be empty", param_hint="'--key-separator'"
        )
    if tombstone and (key is None or values or input_format == "json"):
        raise typer.BadParameter(
            "--tombstone writes one record with --key KEY and no value: give --key and no "
            'VALUE (with --input json, write "value": null on the line instead)',
            param_hint="'--tombstone'",
        )
    try:
        headers = produce_input.command_line_headers(parse_pairs(header, "--header"))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--header'") from None

    b = backend()
    meta = b.topic(topic)
    if partition is not None and not 0 <= partition < meta.partitions:
        raise KcliError(
            f"topic '{topic}' has {meta.partitions} partition(s), numbered "
            f"0..{meta.partitions - 1}; partition {partition} does not exist"
        )

    json_out = render.resolve(output) == render.JSON
    if tombstone:
        lines, more = [None], None
    elif values:
        lines, more = [v.encode("utf-8", "surrogateescape") for v in values], None
    else:
        lines, more = [], produce_input.Stdin(sys.stdin.buffer)
    # Small inputs get a delivery report per record, for -o json and for a summary that says
    # where each record went; big ones only report failures, which keeps them fast.
    detail = json_out or more is None or more.small()
    session = _Deliveries(topic, json_out=json_out, detail=detail)
    try:
        producer = b.producer(
            {
                "linger.ms": 1000,
                "delivery.report.only.error": not detail,
                **producer_settings(acks, compression),
            }
        )
    except KafkaException as exc:
        raise client_error(exc) from None
    started = time.monotonic()
    feeder = produce_input.Feeder(
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
            feeder.feed(lines, "argument", 1)
        else:
            limit = produce_input.line_limit(
                b.max_message_bytes(topic), json_input=feeder.json_input
            )
            more.feed_all(feeder, limit)
        producer.flush()
        session.emit()
    except (produce_input.BadLine, KafkaException, KeyboardInterrupt) as exc:
        # Everything queued came before the bad line: keep it (nothing after it was queued).
        producer.flush()
        session.emit()
        if isinstance(exc, KeyboardInterrupt):
            session.summary(time.monotonic() - started)
            raise
        bad_line = isinstance(exc, produce_input.BadLine)
        reason = str(exc) if bad_line else str(client_error(exc))
        if isinstance(exc, KafkaException) and feeder.last_where:
            reason = f"{feeder.last_where}: {reason}"
        raise KcliError(f"{reason}; {session.stored_phrase(feeder)}") from None
    finally:
        producer.close()
    if session.errors:
        raise KcliError(f"{session.errors[0]}; {session.stored_phrase(feeder)}")
    if not session.json_out:
        session.summary(time.monotonic() - started)


class _Deliveries:
    """Delivery reports: JSON lines to print, counts and offset ranges for the summary."""

    def __init__(self, topic: str, *, json_out: bool, detail: bool):
        from json.encoder import encode_basestring

        self.topic = topic
        self.json_out = json_out
        self.detail = detail  # a report per record (else reports of failures only)
        self.queued = 0  # records handed to the producer
        self.delivered = 0  # success reports received (detail mode)
        self.unacknowledged = 0  # of them, sent with acks=0: no offset known
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
        if offset < 0:  # acks=0: the cluster does not answer, so no offset is known
            offset = -1
            self.unacknowledged += 1
        if self.json_out:
            self.pending.append(f'{self._prefix}{partition},"offset":{offset}}}\n')
        if offset < 0:
            return
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

    def stored_phrase(self, feeder) -> str:
        """What of the input is stored, exactly: "stored lines 1-4 (nothing after them)"."""
        n = self.written()
        if n <= 0:
            return "nothing was written"
        if not self.errors and n == self.queued:
            return f"stored {feeder.queued_phrase()} (nothing after them)"
        return (
            f"{n} of the {self.queued} record{'s' if self.queued != 1 else ''} before it "
            f"{'were' if n != 1 else 'was'} stored, {len(self.errors)} failed"
        )

    def summary(self, seconds: float) -> None:
        from kcli import render

        n = self.written()
        if n == 0:
            render.note(f"No records to produce to {self.topic} (the input was empty).")
            return
        what = f"Produced {n:,} record{'s' if n != 1 else ''} to {self.topic}"
        if self.detail and self.ranges and not self.unacknowledged:
            where = []
            for p in sorted(self.ranges):
                lo, hi = self.ranges[p]
                where.append(f"partition {p} offset{f's {lo}..{hi}' if hi > lo else f' {lo}'}")
            render.note(f"{what}: {', '.join(where)}.")
        elif self.detail and self.unacknowledged:
            render.note(f"{what} with acks=0: sent, not acknowledged, offsets unknown.")
        else:
            rate = f", {n / seconds:,.0f} records/s" if seconds > 0 and n >= 10_000 else ""
            render.note(f"{what} in {seconds:.2f} s{rate}.")
