"""Fetching for a Consumer: the assigned partitions, their positions, reading the log.

Each assigned partition has a ``_PartitionState``: the offset asked for at assign/seek time,
the *fetch position* (where the next read from the log starts), the *consumed position* and
the offset to commit, and a buffer of decoded messages that poll()/consume() hand out.
:class:`Fetcher`, which a ``Consumer`` owns, holds them: it turns a requested offset into a
fetch position (committed offsets, ``auto.offset.reset``, ``OFFSET_TAIL``), reads the log and
decodes record batches into ``Message`` tuples or plain records.  Nothing else writes the
assignment or the positions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from kcli.client.types import (
    OFFSET_BEGINNING,
    OFFSET_END,
    OFFSET_INVALID,
    OFFSET_STORED,
    TIMESTAMP_CREATE_TIME,
    TIMESTAMP_LOG_APPEND_TIME,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
    error_message,
)
from storage.constants import TIMESTAMP_TYPE_MASK
from storage.errors import OffsetOutOfRange, StorageError
from storage.fetched import decoded_batches, next_offset_after

# librdkafka's RD_KAFKA_OFFSET_TAIL_BASE: offset -2000 - N means "N records before the end".
OFFSET_TAIL_BASE = -2000

_RESET_EARLIEST = ("earliest", "smallest", "beginning")
_RESET_LATEST = ("latest", "largest", "end")


def OFFSET_TAIL(n: int) -> int:  # noqa: N802 - librdkafka's name
    """The logical offset ``n`` records before the end of a partition."""
    return OFFSET_TAIL_BASE - n


@dataclass
class _PartitionState:
    """What the consumer knows about one assigned partition."""

    topic: str
    partition: int
    requested: int  # offset or logical offset asked for at assign/seek time
    fetch_position: int | None = None  # next offset to read from the log
    consumed: int | None = None  # offset of the last message returned, + 1
    stored: int | None = None  # offset to commit (consumed, unless stored by hand)
    committed_sent: int | None = None  # last offset committed, to skip no-op commits
    paused: bool = False
    eof_reported_at: int | None = None
    buffer: list = field(default_factory=list)
    buffer_pos: int = 0


Key = tuple[str, int]


class Fetcher:
    """The partitions one consumer reads, its positions in them, and the reads themselves.

    ``events`` is the consumer's queue of event Messages (end of partition, an offset that
    cannot be reset, a partition gone), which the fetcher adds to; ``committed(keys)`` gives
    the group's committed offsets, where a partition without an explicit offset starts.
    """

    def __init__(
        self,
        store,
        *,
        events: list[Message],
        committed: Callable[[list[Key]], dict[Key, int]],
        auto_offset_reset: str,
        auto_offset_store: bool,
        partition_eof: bool,
        max_partition_fetch_bytes: int,
    ):
        self._store = store
        self._events = events
        self._committed = committed
        self._auto_offset_reset = auto_offset_reset
        self._auto_offset_store = auto_offset_store
        self._partition_eof = partition_eof
        self._max_bytes = max_partition_fetch_bytes
        self._assigned: dict[Key, _PartitionState] = {}
        self._order: list[Key] = []  # assignment order, for fair round-robin reads
        self._rr = 0
        # How many times the application assigned by itself (assign/incremental_assign):
        # an on_assign callback that did so replaces the group's starting offsets.
        self.assign_calls = 0

    # -- the assignment -------------------------------------------------------------------

    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        self.assign_calls += 1
        self.clear()
        self.add(partitions)

    def incremental_assign(self, partitions: Iterable[TopicPartition]) -> None:
        self.assign_calls += 1
        self.add(partitions)

    def add(self, partitions: Iterable[TopicPartition]) -> None:
        """Read these partitions too, each from its ``offset`` (or committed/reset)."""
        for tp in partitions:
            key = (tp.topic, tp.partition)
            if key not in self._assigned:
                self._order.append(key)
            self._assigned[key] = _PartitionState(tp.topic, tp.partition, tp.offset)

    def remove(self, partitions: Iterable[TopicPartition]) -> None:
        for tp in partitions:
            key = (tp.topic, tp.partition)
            if self._assigned.pop(key, None) is not None:
                self._order.remove(key)

    def clear(self) -> list[TopicPartition]:
        """Stop reading every partition; returns the partitions that were assigned."""
        partitions = self.assignment()
        self._assigned = {}
        self._order = []
        return partitions

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(t, p) for t, p in self._order]

    def get(self, topic: str, partition: int) -> _PartitionState | None:
        return self._assigned.get((topic, partition))

    def to_commit(self) -> dict[Key, int]:
        """Stored offsets not committed yet, by partition."""
        return {
            key: st.stored
            for key, st in self._assigned.items()
            if st.stored is not None and st.stored != st.committed_sent
        }

    def committed(self, offsets: dict[Key, int]) -> None:
        """Note offsets just committed, so that the same ones are not committed again."""
        for key, offset in offsets.items():
            st = self._assigned.get(key)
            if st is not None:
                st.committed_sent = offset

    # -- positions ------------------------------------------------------------------------

    def seek(self, partition: TopicPartition) -> None:
        st = self._assigned.get((partition.topic, partition.partition))
        if st is None:
            raise KafkaException(
                KafkaError(
                    KafkaError._STATE,
                    f"Failed to seek {partition.topic} [{partition.partition}]: "
                    f"partition is not assigned",
                )
            )
        st.requested = partition.offset
        st.fetch_position = None
        st.buffer = []
        st.buffer_pos = 0
        st.eof_reported_at = None

    def set_paused(self, partitions: Iterable[TopicPartition], paused: bool) -> None:
        for tp in partitions:
            st = self._assigned.get((tp.topic, tp.partition))
            if st is not None:
                st.paused = paused

    def position(self, tp: TopicPartition) -> int:
        """The offset of the next message poll() will return (OFFSET_INVALID: not known)."""
        st = self._assigned.get((tp.topic, tp.partition))
        if st is None:
            return OFFSET_INVALID
        if st.consumed is not None:
            return st.consumed
        if st.buffer_pos < len(st.buffer):
            return st.buffer[st.buffer_pos].offset()
        if st.fetch_position is not None:
            return st.fetch_position
        return OFFSET_INVALID

    def store(self, topic: str, partition: int, offset: int) -> None:
        """Mark ``offset`` to be committed for an assigned partition (others are skipped)."""
        st = self._assigned.get((topic, partition))
        if st is not None:
            st.stored = offset

    # -- reading Messages (poll, consume) -------------------------------------------------

    def messages_round(self, out: list[Message], wanted: int) -> list[Message] | object | None:
        """One poll round of poll()/consume(): ``out`` gathers messages across rounds.

        Returns what to hand out, None when nothing is there yet, or AGAIN to go round again
        at once (something arrived).
        """
        events = self._events
        if events:
            out.append(events.pop(0))
            return out
        self._drain_buffers(out, wanted)
        if len(out) >= wanted:
            return out
        if self._fetch_round() and len(out) < wanted:
            return AGAIN
        if out or events:
            if not out:
                out.append(events.pop(0))
            return out
        return None

    def _drain_buffers(self, out: list[Message], wanted: int) -> None:
        n = len(self._order)
        for i in range(n):
            key = self._order[(self._rr + i) % n]
            st = self._assigned[key]
            if st.paused or st.buffer_pos >= len(st.buffer):
                continue
            take = st.buffer[st.buffer_pos : st.buffer_pos + wanted - len(out)]
            st.buffer_pos += len(take)
            if st.buffer_pos >= len(st.buffer):
                st.buffer = []
                st.buffer_pos = 0
            out.extend(take)
            self._mark_consumed(st, take[-1][2] + 1)
            if len(out) >= wanted:
                self._rr = (self._rr + i) % n
                return
        if n:
            self._rr = (self._rr + 1) % n

    def _fetch_round(self) -> bool:
        """Read the next chunk of every assigned partition with an empty buffer.

        Returns True when anything (records or an event) became available.
        """
        got = False
        for key in list(self._order):
            st = self._assigned.get(key)
            if st is None or st.paused or st.buffer_pos < len(st.buffer):
                continue
            if self._fetch_partition(st):
                got = True
        return got

    def _positioned_log(self, st: _PartitionState):
        """The partition's Log with ``st.fetch_position`` set, or None when there is nothing
        to fetch from it (the partition is gone, or its start position is not known yet)."""
        try:
            log = self._store.log(st.topic, st.partition)
        except StorageError as exc:
            self._remove_with_error(st, KafkaError.UNKNOWN_TOPIC_OR_PART, str(exc))
            return None
        if st.fetch_position is None:
            position = self._start_position(st, log)
            if position is None:
                return None
            st.fetch_position = position
        return log

    def _fetch_partition(self, st: _PartitionState) -> bool:
        log = self._positioned_log(st)
        if log is None:
            return True
        try:
            fetched = log.read(st.fetch_position, self._max_bytes)
        except OffsetOutOfRange as exc:
            position = self._reset_position(st, exc.log_start_offset, exc.log_end_offset)
            if position is None:
                return True
            st.fetch_position = position
            return self._fetch_partition(st)
        data = fetched.records
        if not data:
            return self._report_eof(st)
        messages = _decode_messages(data, st.topic, st.partition, st.fetch_position)
        if messages:
            st.buffer = messages
            st.buffer_pos = 0
            st.fetch_position = messages[-1][2] + 1
            return True
        # Only control batches or records below the position: move past them.
        st.fetch_position = next_offset_after(data)
        return self._fetch_partition(st)

    def _report_eof(self, st: _PartitionState) -> bool:
        """Queue a _PARTITION_EOF event (enable.partition.eof), once per position reached."""
        if self._partition_eof and st.eof_reported_at != st.fetch_position:
            st.eof_reported_at = st.fetch_position
            self._events.append(
                error_message(
                    KafkaError(KafkaError._PARTITION_EOF, "Broker: No more messages"),
                    st.topic,
                    st.partition,
                    st.fetch_position,
                )
            )
            return True
        return False

    def _start_position(self, st: _PartitionState, log) -> int | None:
        low, high = log.log_start_offset, log.log_end_offset
        requested = st.requested
        if requested == OFFSET_BEGINNING:
            return low
        if requested == OFFSET_END:
            return high
        if requested <= OFFSET_TAIL_BASE:
            return max(low, high - (OFFSET_TAIL_BASE - requested))
        if requested in (OFFSET_STORED, OFFSET_INVALID) or requested < 0:
            key = (st.topic, st.partition)
            committed = self._committed([key]).get(key)
            if committed is not None and committed >= 0 and low <= committed <= high:
                st.committed_sent = committed
                return committed
            return self._reset_position(st, low, high)
        if low <= requested <= high:
            return requested
        return self._reset_position(st, low, high)

    def _reset_position(self, st: _PartitionState, low: int, high: int) -> int | None:
        if self._auto_offset_reset in _RESET_EARLIEST:
            return low
        if self._auto_offset_reset in _RESET_LATEST:
            return high
        reason = (
            f"no valid offset for {st.topic} [{st.partition}] and auto.offset.reset=error "
            f"(valid offsets: {low}..{high})"
        )
        self._remove_with_error(st, KafkaError._AUTO_OFFSET_RESET, reason)
        return None

    def _remove_with_error(self, st: _PartitionState, code: int, reason: str) -> None:
        key = (st.topic, st.partition)
        if key in self._assigned:
            del self._assigned[key]
            self._order.remove(key)
        self._events.append(
            error_message(KafkaError(code, reason), st.topic, st.partition, st.fetch_position)
        )

    def _mark_consumed(self, st: _PartitionState, position: int) -> None:
        st.consumed = position
        if self._auto_offset_store:
            st.stored = position

    # -- kcli-only bulk read: records without a Message each (Consumer.consume_records) ------

    def records_round(self, max_records: int) -> list | None:
        """One poll round of consume_records(): ``(topic, partition, records)`` runs and
        event Messages, or None when nothing is there yet."""
        out: list = []
        budget = max_records
        for key in list(self._order):
            st = self._assigned.get(key)
            if st is None or st.paused or st.buffer_pos >= len(st.buffer):
                continue
            # Messages poll()/consume() buffered already come first: offset order holds.
            take = st.buffer[st.buffer_pos :]
            st.buffer, st.buffer_pos = [], 0
            out.append((st.topic, st.partition, [(m[2], m[4], m[5], m[6], m[7]) for m in take]))
            budget -= len(take)
            self._mark_consumed(st, take[-1][2] + 1)
        for key in list(self._order):
            st = self._assigned.get(key)
            if budget <= 0:
                break
            if st is None or st.paused:
                continue
            records = self._fetch_records(st, budget)
            if records:
                out.append((st.topic, st.partition, records))
                budget -= len(records)
        if self._events:
            out.extend(self._events)
            self._events.clear()
        return out or None

    def _fetch_records(self, st: _PartitionState, budget: int) -> list | None:
        """Up to ``budget`` records of one partition from its fetch position (None: none)."""
        log = self._positioned_log(st)
        if log is None:
            return None
        while True:
            try:
                records = log.read_records(st.fetch_position, budget, self._max_bytes)
            except OffsetOutOfRange as exc:
                position = self._reset_position(st, exc.log_start_offset, exc.log_end_offset)
                if position is None:
                    return None
                st.fetch_position = position
                continue
            if not records:
                self._report_eof(st)
                return None
            st.fetch_position = records[-1][0] + 1
            self._mark_consumed(st, st.fetch_position)
            return records


# What a poll round returns to go round again at once (something arrived).
AGAIN = object()


def _decode_messages(data: bytes, topic: str, partition: int, min_offset: int) -> list[Message]:
    new = tuple.__new__
    out: list[Message] = []
    for header, records in decoded_batches(data, min_offset):
        ts_type = (
            TIMESTAMP_LOG_APPEND_TIME
            if header.attributes & TIMESTAMP_TYPE_MASK
            else TIMESTAMP_CREATE_TIME
        )
        out.extend(
            [
                new(Message, (topic, partition, r[0], ts_type, r[1], r[2], r[3], r[4], None))
                for r in records
            ]
        )
    return out
