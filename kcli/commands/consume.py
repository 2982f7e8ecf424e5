"""`kcli consume`: read records by topic, partition and offset, or as a consumer group member."""

from typing import Literal

import typer

from kcli.commands._common import Output, backend, client_error, output_option

# Records asked from the consumer per call, and the fetch size per partition: big enough to
# amortise the work per call, small enough that the allocator reuses its buffers (bigger chunks
# spend their time mapping and unmapping memory).
_CHUNK_RECORDS = 10_000
_FETCH_BYTES = 1 << 20
_WAIT_S = 0.25  # how often a waiting consume looks at Ctrl-C / SIGTERM

FORMAT_HELP = (
    "kcat-style format: %t topic, %p partition, %o offset, %k key, %s value, %T timestamp "
    "(ms), %h headers, %K/%S key/value length, \\n newline, \\t tab. Example: '%p:%o %s\\n'"
)


def consume(
    topic: str = typer.Argument(..., help="Topic to read.", metavar="TOPIC"),
    partition: int | None = typer.Option(
        None, "--partition", "-p", help="Read only this partition (default: all).", metavar="P"
    ),
    from_offset: int | None = typer.Option(
        None,
        "--from-offset",
        help="Start at offset N of each partition read; negative: N records before the end "
        "(-1 = the last record; all records if a partition holds fewer).",
        metavar="N",
    ),
    from_beginning: bool = typer.Option(
        False,
        "--from-beginning",
        help="Start at each partition's log start offset (default).",
        metavar="",
    ),
    from_end: bool = typer.Option(
        False,
        "--from-end",
        help="Start at the end: only records produced from now on.",
        metavar="",
    ),
    from_time: str | None = typer.Option(
        None,
        "--from-time",
        help="Start at the first record at or after TIME: ISO-8601 (2024-05-01T10:30:00Z) or "
        "a duration before now (-10s, -30m, -1h, -2d); uses the time index.",
        metavar="TIME",
    ),
    max_messages: int | None = typer.Option(
        None, "--max-messages", "-n", help="Stop after N records.", metavar="N"
    ),
    follow: bool = typer.Option(
        False,
        "--follow",
        "-f",
        help="Keep waiting for new records at the end (stop with Ctrl-C).",
        metavar="",
    ),
    fmt: str | None = typer.Option(None, "--format", help=FORMAT_HELP, metavar="FMT"),
    output: Output | None = output_option(),
    print_key: bool = typer.Option(
        False, "--print-key", help="Plain output: print KEY<tab>VALUE.", metavar=""
    ),
    print_headers: bool = typer.Option(
        False,
        "--print-headers",
        help="Plain and table output: print the headers too.",
        metavar="",
    ),
    group: str | None = typer.Option(
        None,
        "--group",
        "-g",
        help="Join consumer group G: read the partitions it assigns, from its committed "
        "offsets, and commit what was printed.",
        metavar="G",
    ),
    assignor: Literal["range", "roundrobin", "sticky", "cooperative-sticky"] = typer.Option(
        "range",
        "--assignor",
        help="With --group: how the group shares the partitions: range, roundrobin, sticky "
        "or cooperative-sticky.",
        metavar="NAME",
    ),
    instance_id: str | None = typer.Option(
        None,
        "--instance-id",
        help="With --group: join as a static member with this group.instance.id (KIP-345). "
        "It does not leave the group on exit; started again within the session timeout it "
        "gets its partitions back with no rebalance.",
        metavar="ID",
    ),
    session_timeout_ms: int = typer.Option(
        45000,
        "--session-timeout-ms",
        help="With --group: after this long without heartbeats a member is considered dead.",
        metavar="MS",
    ),
    reset: Literal["earliest", "latest"] = typer.Option(
        "earliest",
        "--reset",
        help="With --group, where a partition without a committed offset starts (kcli's "
        "default is earliest; Kafka's auto.offset.reset default is latest).",
    ),
) -> None:
    """Print records of a topic, then exit at the end (or keep waiting with --follow).

    Default: every partition from the beginning. Within a partition records come in offset order.

    A terminal shows "partition P offset O  key → value" lines; a pipe gets the values, one per line; -o json gives one object per record: {"topic", "partition", "offset", "timestamp", "key", "value", "headers"}.

    Keys and values that are not UTF-8 are shown with U+FFFD in "key"/"value" and given exactly, base64, in "key_b64"/"value_b64" ("headers_b64" for headers); 'kcli produce --input json' reads them back byte for byte. A record without a value has "value": null in JSON and shows as (tombstone) in the table and plain forms ((null) when it has no key either); --format's %s prints nothing for it and %S prints -1, as kcat does.
    """
    from kcli import render

    starts = [
        name
        for name, given in (
            ("--from-offset", from_offset is not None),
            ("--from-beginning", from_beginning),
            ("--from-end", from_end),
            ("--from-time", from_time is not None),
        )
        if given
    ]
    if len(starts) > 1:
        raise typer.BadParameter(f"choose one start position, not {' and '.join(starts)}")
    if max_messages is not None and max_messages < 1:
        raise typer.BadParameter("must be 1 or more", param_hint="'--max-messages'")
    form = render.resolve(output)
    if fmt is not None and form == render.JSON:
        raise typer.BadParameter("use either --format or -o json, not both")
    if instance_id is not None and group is None:
        raise typer.BadParameter(
            "a group.instance.id belongs to a group member; add --group G",
            param_hint="'--instance-id'",
        )
    if instance_id is not None and not instance_id.strip():
        raise typer.BadParameter("must not be empty", param_hint="'--instance-id'")
    if group is not None:
        if partition is not None or starts:
            raise typer.BadParameter(
                "with --group the group assigns partitions and committed offsets say where "
                "to start; drop --partition/--from-* (use --reset earliest|latest)"
            )
        if session_timeout_ms < 1:
            raise typer.BadParameter("must be 1 or more", param_hint="'--session-timeout-ms'")
    try:
        writer = render.RecordWriter(
            form, fmt=fmt, print_key=print_key, print_headers=print_headers
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--format'") from None

    from kcli.client.types import KafkaException

    b = backend()
    meta = b.topic(topic)
    conf = {
        "enable.partition.eof": True,
        "max.partition.fetch.bytes": _FETCH_BYTES,
        "client.id": "kcli-consume",
    }
    if group is not None:
        conf.update(
            {
                "group.id": group,
                "partition.assignment.strategy": assignor,
                "session.timeout.ms": session_timeout_ms,
                "auto.offset.reset": reset,
                "enable.auto.offset.store": False,
            }
        )
        if instance_id is not None:
            conf["group.instance.id"] = instance_id
    try:
        consumer = b.consumer(conf)
    except KafkaException as exc:
        raise client_error(exc) from None
    reader = _Reader(consumer, topic, writer, max_messages, follow, group is not None)
    try:
        if group is None:
            reader.assign(
                _start_positions(consumer, meta, partition, from_offset, from_end, from_time)
            )
        else:
            consumer.subscribe([topic], on_assign=reader.on_assign, on_revoke=reader.on_revoke)
        reader.run()
    except BrokenPipeError:
        render.reader_left()
        return
    except KafkaException as exc:
        raise client_error(exc) from None
    finally:
        reader.closing = True
        try:
            consumer.close()
        except KafkaException:
            pass
    reader.summary()


def _start_positions(consumer, meta, partition, from_offset, from_end, from_time):
    """The TopicPartitions to assign, each with its starting (possibly logical) offset."""
    from kcli.client.types import OFFSET_BEGINNING, OFFSET_END, TopicPartition
    from kcli.errors import KcliError
    from kcli.local.consumer import OFFSET_TAIL

    if partition is not None and not 0 <= partition < meta.partitions:
        raise KcliError(
            f"topic '{meta.name}' has {meta.partitions} partition(s), numbered "
            f"0..{meta.partitions - 1}; partition {partition} does not exist"
        )
    numbers = [partition] if partition is not None else list(range(meta.partitions))
    tps = []
    if from_time is not None:
        from kcli.timeparse import parse_time

        try:
            ts = parse_time(from_time)
        except KcliError as exc:
            raise KcliError(f"--from-time: {exc}") from None
        found = consumer.offsets_for_times([TopicPartition(meta.name, p, ts) for p in numbers])
        return [TopicPartition(meta.name, tp.partition, tp.offset) for tp in found]
    for p in numbers:
        if from_end:
            offset = OFFSET_END
        elif from_offset is None:
            offset = OFFSET_BEGINNING
        elif from_offset < 0:
            offset = OFFSET_TAIL(-from_offset)
        else:
            low, high = consumer.get_watermark_offsets(TopicPartition(meta.name, p))
            if not low <= from_offset <= high:
                more = "" if partition is not None else "; choose one with --partition"
                raise KcliError(
                    f"offset {from_offset} is out of range for {meta.name}-{p}: valid offsets "
                    f"are {low}..{high} (log_start_offset..log_end_offset){more}"
                )
            offset = from_offset
        tps.append(TopicPartition(meta.name, p, offset))
    return tps


class _Stop:
    """Ctrl-C and SIGTERM ask the loop to stop; a second Ctrl-C interrupts at once."""

    def __init__(self):
        self.requested = False
        self._saved = {}

    def __enter__(self):
        import signal

        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._saved[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass
        return self

    def _handle(self, signum, frame):
        import signal

        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        import signal

        for sig, handler in self._saved.items():
            signal.signal(sig, handler)


class _Reader:
    """The consume loop: print chunks, track end of partitions, stop when asked or done."""

    def __init__(self, consumer, topic, writer, max_messages, follow, grouped):
        self.consumer = consumer
        self.topic = topic
        self.writer = writer
        self.remaining = max_messages
        self.follow = follow
        self.grouped = grouped
        self.assigned: set[int] | None = None  # None until the first assignment
        self.at_end: set[int] = set()
        self.closing = False  # the revoke that close() causes is not news

    def assign(self, tps) -> None:
        self.consumer.assign(tps)
        self.assigned = {tp.partition for tp in tps}

    def on_assign(self, consumer, partitions) -> None:
        # Eager: ``partitions`` is the whole assignment.  Cooperative: the partitions added to
        # those the consumer keeps (its assignment() until this callback returns).
        from kcli import render

        new = {tp.partition for tp in partitions}
        kept = {tp.partition for tp in consumer.assignment()} - new
        self.assigned = kept | new
        self.at_end -= new
        shown = ", ".join(f"{tp.topic}-{tp.partition}" for tp in sorted(partitions))
        if shown:
            render.note(f"assigned: {shown}" + (" (and kept the others)" if kept else ""))
        elif kept:
            render.note("assigned: nothing new (kept the others)")
        else:
            render.note("assigned: nothing (more members than partitions)")

    def on_revoke(self, consumer, partitions) -> None:
        from kcli import render

        if partitions and not self.closing:
            render.note(
                f"revoked: {', '.join(f'{tp.topic}-{tp.partition}' for tp in sorted(partitions))}"
            )
        # Cooperative: only these go, the rest stay assigned.  Eager: everything goes, until
        # the next assignment.
        kept = {tp.partition for tp in consumer.assignment()} - {tp.partition for tp in partitions}
        self.assigned = kept or None

    def run(self) -> None:
        from kcli.client.types import KafkaError, TopicPartition

        consumer, writer = self.consumer, self.writer
        with _Stop() as stop:
            while not stop.requested:
                want = (
                    _CHUNK_RECORDS
                    if self.remaining is None
                    else min(_CHUNK_RECORDS, self.remaining)
                )
                items = consumer.consume_records(want, timeout=_WAIT_S)
                stored = []
                for item in items:
                    if item.__class__ is tuple:
                        topic, partition, records = item
                        if self.remaining is not None:
                            records = records[: self.remaining]
                            self.remaining -= len(records)
                        if records:
                            writer.write(topic, partition, records)
                            self.at_end.discard(partition)
                            stored.append(TopicPartition(topic, partition, records[-1][0] + 1))
                        continue
                    err = item.error()
                    if err.code() == KafkaError._PARTITION_EOF:
                        self.at_end.add(item.partition())
                        continue
                    from kcli.errors import KcliError

                    raise KcliError(err.str())
                writer.flush()
                if self.grouped and stored:
                    # Printed (and flushed) first, then marked for commit: at-least-once.
                    consumer.store_offsets(offsets=stored)
                if self.remaining == 0:
                    return
                if not self.follow and self.assigned is not None and self.at_end >= self.assigned:
                    return

    def summary(self) -> None:
        from kcli import render

        n = self.writer.count
        if n == 0 and not self.follow:
            if self.assigned == set() and self.grouped:
                render.note("No partitions were assigned to this member.")
            else:
                render.note(f"No records in {self.topic} from the chosen position.")
            return
        render.note(f"Processed a total of {n:,} record{'s' if n != 1 else ''}.")
