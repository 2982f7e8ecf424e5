"""The loop behind ``kcli consume``: where each partition starts, reading in chunks, printing
them through the record writer, committing what was printed (with a group), and stopping at
the end, after N records, or on Ctrl-C / SIGTERM."""

from __future__ import annotations

import signal
from dataclasses import dataclass

from kcli import render
from kcli.client.backend import Backend
from kcli.client.types import (
    OFFSET_BEGINNING,
    OFFSET_END,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from kcli.errors import KcliError, client_error
from kcli.local.fetcher import OFFSET_TAIL
from kcli.timeparse import parse_time
from storage.errors import partition_not_found_message

# Records asked from the consumer per call, and the fetch size per partition: big enough to
# amortise the work per call, small enough that the allocator reuses its buffers (bigger chunks
# spend their time mapping and unmapping memory).
_CHUNK_RECORDS = 10_000
_FETCH_BYTES = 1 << 20
_WAIT_S = 0.25  # how often a waiting consume looks at Ctrl-C / SIGTERM


@dataclass(frozen=True)
class ConsumeRequest:
    """What ``kcli consume`` was asked for (its options, checked)."""

    topic: str
    partition: int | None = None
    from_offset: int | None = None
    from_end: bool = False
    from_time: str | None = None
    max_messages: int | None = None
    follow: bool = False
    group: str | None = None
    assignor: str = "range"
    session_timeout_ms: int = 45000
    reset: str = "earliest"
    instance_id: str | None = None  # group.instance.id: a static member (KIP-345)
    group_protocol: str = "classic"  # group.protocol: "consumer" is KIP-848's (a broker's)


def consume_topic(b: Backend, writer, req: ConsumeRequest) -> None:
    """Read ``req.topic`` from ``b`` into ``writer`` (kcli.render.RecordWriter) until done,
    then say on stderr how many records were processed."""
    topic, partition, group = req.topic, req.partition, req.group
    meta = b.topic(topic)
    conf = {
        "enable.partition.eof": True,
        "max.partition.fetch.bytes": _FETCH_BYTES,
        "client.id": "kcli-consume",
    }
    if group is not None and req.group_protocol == "consumer":
        # KIP-848: the broker assigns and sets the session timeout (group.consumer.*).
        conf.update(
            {
                "group.id": group,
                "group.protocol": "consumer",
                "auto.offset.reset": req.reset,
                "enable.auto.offset.store": False,
            }
        )
    elif group is not None:
        conf.update(
            {
                "group.id": group,
                "partition.assignment.strategy": req.assignor,
                "session.timeout.ms": req.session_timeout_ms,
                "auto.offset.reset": req.reset,
                "enable.auto.offset.store": False,
            }
        )
        if req.instance_id is not None:
            conf["group.instance.id"] = req.instance_id
    try:
        consumer = b.consumer(conf)
    except KafkaException as exc:
        raise client_error(exc) from None
    reader = _Reader(consumer, topic, writer, req.max_messages, req.follow, group is not None)
    try:
        if group is None:
            reader.assign(
                _start_positions(
                    consumer, meta, partition, req.from_offset, req.from_end, req.from_time
                )
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
    if partition is not None and not 0 <= partition < meta.partitions:
        raise KcliError(partition_not_found_message(meta.name, meta.partitions, partition))
    numbers = [partition] if partition is not None else list(range(meta.partitions))
    tps = []
    if from_time is not None:
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
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._saved[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass
        return self

    def _handle(self, signum, frame):
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
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
        if partitions and not self.closing:
            render.note(
                f"revoked: {', '.join(f'{tp.topic}-{tp.partition}' for tp in sorted(partitions))}"
            )
        # Cooperative: only these go, the rest stay assigned.  Eager: everything goes, until
        # the next assignment.
        kept = {tp.partition for tp in consumer.assignment()} - {tp.partition for tp in partitions}
        self.assigned = kept or None

    def run(self) -> None:
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
        n = self.writer.count
        if n == 0 and not self.follow:
            if self.assigned == set() and self.grouped:
                render.note("No partitions were assigned to this member.")
            else:
                render.note(f"No records in {self.topic} from the chosen position.")
            return
        render.note(f"Processed a total of {n:,} record{'s' if n != 1 else ''}.")
