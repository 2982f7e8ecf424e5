"""Fetching for a Consumer: per-partition positions, reading the log, decoding records.

Each assigned partition has a ``_PartitionState``: the offset asked for at assign/seek time,
the *fetch position* (where the next read from the log starts), the *consumed position* and
the offset to commit, and a buffer of decoded messages that poll()/consume() hand out.
:class:`PartitionFetcher` is the part of ``Consumer`` (a mixin) that turns a requested offset
into a fetch position (committed offsets, ``auto.offset.reset``, ``OFFSET_TAIL``), reads the
log, decodes record batches into ``Message`` tuples or plain records, and runs the poll loop
that waits for them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from kcli.client.types import (
    OFFSET_BEGINNING,
    OFFSET_END,
    OFFSET_INVALID,
    OFFSET_STORED,
    TIMESTAMP_CREATE_TIME,
    TIMESTAMP_LOG_APPEND_TIME,
    KafkaError,
    Message,
    error_message,
)
from storage.constants import TIMESTAMP_TYPE_MASK
from storage.errors import OffsetOutOfRange, StorageError
from storage.records import decode_batch, read_header

# librdkafka's RD_KAFKA_OFFSET_TAIL_BASE: offset -2000 - N means "N records before the end".
OFFSET_TAIL_BASE = -2000

_RESET_EARLIEST = ("earliest", "smallest", "beginning")
_RESET_LATEST = ("latest", "largest", "end")

# How long an idle poll sleeps between looks at the log, growing up to the maximum.
_IDLE_SLEEP_MIN_S = 0.005
_IDLE_SLEEP_MAX_S = 0.1


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


# What an attempt of the poll loop returns to go round again at once (something arrived).
_AGAIN = object()


class PartitionFetcher:
    """The fetching half of ``Consumer`` (a mixin): the poll loop, per-partition positions and
    reading the log.  It works on the consumer's state (``_store``, ``_assigned``, ``_order``,
    ``_pending_errors`` ...)."""

    def _poll_loop(self, timeout: float | None, attempt, *args):
        """Run ``attempt(*args)`` at every poll round until it returns something to hand out
        (a list), or until ``timeout`` seconds have passed (None or negative: forever).

        ``attempt`` returns None when nothing is available yet (the loop sleeps, a little
        longer each idle round) or ``_AGAIN`` to go round again at once.
        """
        self._check_open()
        if timeout is not None and timeout < 0:
            timeout = None
        deadline = None if timeout is None else time.monotonic() + timeout
        sleep = _IDLE_SLEEP_MIN_S
        while True:
            self._group_tick()
            self._auto_commit()
            result = attempt(*args)
            if result is _AGAIN:
                sleep = _IDLE_SLEEP_MIN_S
                continue
            if result is not None:
                return result
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return []
            pause = sleep if deadline is None else min(sleep, deadline - now)
            time.sleep(max(pause, 0))
            sleep = min(sleep * 2, _IDLE_SLEEP_MAX_S)

    def _collect(self, wanted: int, timeout: float | None) -> list[Message]:
        return self._poll_loop(timeout, self._collect_round, [], wanted)

    def _collect_round(self, out: list[Message], wanted: int) -> list[Message] | object | None:
        """One poll round of poll()/consume(): ``out`` gathers messages across rounds."""
        if self._pending_errors:
            out.append(self._pending_errors.pop(0))
            return out
        self._drain_buffers(out, wanted)
        if len(out) >= wanted:
            return out
        if self._fetch_round() and len(out) < wanted:
            return _AGAIN
        if out or self._pending_errors:
            if not out:
                out.append(self._pending_errors.pop(0))
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
            st.consumed = take[-1][2] + 1
            if self._auto_offset_store:
                st.stored = st.consumed
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
            fetched = log.read(st.fetch_position, self._max_partition_fetch_bytes)
        except OffsetOutOfRange as exc:
            position = self._reset_position(st, exc.log_start_offset, exc.log_end_offset, exc)
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
        st.fetch_position = _next_offset_after(data)
        return self._fetch_partition(st)

    def _report_eof(self, st: _PartitionState) -> bool:
        """Queue a _PARTITION_EOF event (enable.partition.eof), once per position reached."""
        if self._partition_eof and st.eof_reported_at != st.fetch_position:
            st.eof_reported_at = st.fetch_position
            self._pending_errors.append(
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
            committed = self._fetch_committed([(st.topic, st.partition)]).get(
                (st.topic, st.partition)
            )
            if committed is not None and committed >= 0:
                if low <= committed <= high:
                    st.committed_sent = committed
                    return committed
                return self._reset_position(st, low, high, None)
            return self._reset_position(st, low, high, None)
        if low <= requested <= high:
            return requested
        return self._reset_position(st, low, high, None)

    def _reset_position(self, st: _PartitionState, low: int, high: int, exc) -> int | None:
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
        self._pending_errors.append(
            error_message(KafkaError(code, reason), st.topic, st.partition, st.fetch_position)
        )

    # -- kcli-only bulk read: records without a Message each (Consumer.consume_records) ------

    def _records_round(self, max_records: int) -> list | None:
        """One poll round of consume_records()."""
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
        if self._pending_errors:
            out.extend(self._pending_errors)
            self._pending_errors.clear()
        if out:
            return self._group_verify(out)
        return None

    def _mark_consumed(self, st: _PartitionState, position: int) -> None:
        st.consumed = position
        if self._auto_offset_store:
            st.stored = position

    def _fetch_records(self, st: _PartitionState, budget: int) -> list | None:
        """Up to ``budget`` records of one partition from its fetch position (None: none)."""
        log = self._positioned_log(st)
        if log is None:
            return None
        while True:
            try:
                data = log.read(st.fetch_position, self._max_partition_fetch_bytes).records
            except OffsetOutOfRange as exc:
                position = self._reset_position(st, exc.log_start_offset, exc.log_end_offset, exc)
                if position is None:
                    return None
                st.fetch_position = position
                continue
            if not data:
                self._report_eof(st)
                return None
            records: list = []
            pos, end = 0, len(data)
            while pos < end and len(records) < budget:
                size = read_header(data, pos).size
                records.extend(
                    decode_batch(
                        data[pos : pos + size],
                        min_offset=st.fetch_position,
                        max_records=budget - len(records),
                    )
                )
                pos += size
            if records:
                st.fetch_position = records[-1][0] + 1
                self._mark_consumed(st, st.fetch_position)
                return records
            # Only control batches or records below the position: move past them.
            st.fetch_position = _next_offset_after(data)


def _decode_messages(data: bytes, topic: str, partition: int, min_offset: int) -> list[Message]:
    new = tuple.__new__
    out: list[Message] = []
    pos = 0
    end = len(data)
    while pos < end:
        header = read_header(data, pos)
        size = header.size
        ts_type = (
            TIMESTAMP_LOG_APPEND_TIME
            if header.attributes & TIMESTAMP_TYPE_MASK
            else TIMESTAMP_CREATE_TIME
        )
        records = decode_batch(data[pos : pos + size], min_offset=min_offset)
        out.extend(
            [
                new(Message, (topic, partition, r[0], ts_type, r[1], r[2], r[3], r[4], None))
                for r in records
            ]
        )
        pos += size
    return out


def _next_offset_after(data: bytes) -> int:
    pos = 0
    header = None
    while pos < len(data):
        header = read_header(data, pos)
        pos += header.size
    return header.next_offset
