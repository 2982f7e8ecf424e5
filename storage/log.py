"""One partition's log: a directory of segments, appended to by many processes at once.

Concurrency model
-----------------
* Appends take an exclusive per-partition file lock (``<dir>/.lock``).  Under it, a writer
  first catches up with what other processes appended (new batches, new segments), truncates
  a torn tail left by a writer that was killed, then writes its batches with one ``writev``
  and one ``fsync``.  Offsets therefore stay contiguous across processes.
* Readers take no lock.  A batch is only ever appended whole, in one write; a reader that sees
  a batch whose length runs past the end of the file treats it as not yet written, and never
  reads the active segment past the last complete batch it has seen.  Every batch a reader
  returns has had its CRC checked.
* Retention (deleting whole closed segments) runs under the same lock.  A reader holding a
  deleted segment open keeps reading it; a reader that finds it gone sees the new
  ``log_start_offset``.
* Idempotent producers' batches are checked against the producer state
  (``storage.producer_state``) under the lock, so a retried batch is never written twice,
  whichever process appended the first copy.

Durability: ``append`` fsyncs before it returns unless called with ``fsync=False``; then
``flush`` fsyncs everything this log object wrote (a segment is always fsynced when it rolls).

No in-memory state here is authoritative: everything can be recomputed from the files, and is,
whenever this process might be behind (``refresh``).

This module holds ``Log`` itself (state, refresh, append, roll, flush) and ``encode_batches``.
``Log`` takes its other parts from mixins, one concept per module: the read path
(``storage.log_reader``), retention (``storage.retention``), recovery and verification
(``storage.recovery``), the producer-state catch-up (``storage.log_producer_state``) and
truncation (``storage.log_truncation``); the
values it returns are in ``storage.log_types`` and re-exported here.
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Sequence
from pathlib import Path

from storage.clock import SYSTEM_CLOCK, Clock
from storage.constants import (
    BATCH_HEADER_SIZE,
    INT32_MAX,
    LOG_OVERHEAD,
    LOG_SUFFIX,
    MAGIC,
    NO_PRODUCER_EPOCH,
    NO_PRODUCER_ID,
    NO_SEQUENCE,
    PARTITION_LOCK_FILE,
)
from storage.errors import CorruptRecord, DuplicateSequence, RecordTooLarge, StorageError
from storage.fileio import fsync_dir, fsync_file, writev_all
from storage.flock import FileMutex, LockTimeout
from storage.log_producer_state import SNAPSHOT_AFTER_BATCHES, LogProducerState
from storage.log_reader import DEFAULT_FETCH_BYTES, LogReader
from storage.log_truncation import LogTruncation
from storage.log_types import (
    AppendInfo,
    DeletedSegment,
    FetchResult,
    RecoveryReport,
    SegmentInfo,
    _SegmentGone,
)
from storage.producer_state import (
    BatchMetadata,
    ProducerState,
    ProducerUpdate,
    last_sequence,
)
from storage.records import (
    LOG_APPEND_TIME,
    BatchHeader,
    ProducerRecord,
    encode_batch,
    read_header,
    set_log_append_time,
    validate_batch,
)
from storage.recovery import LogRecovery
from storage.retention import LogRetention
from storage.segment import Segment, TornTail
from storage.topic_config import TopicConfig

__all__ = [
    "DEFAULT_BATCH_RECORDS",
    "DEFAULT_FETCH_BYTES",
    "LOCK_TIMEOUT_S",
    "SNAPSHOT_AFTER_BATCHES",
    "AppendInfo",
    "DeletedSegment",
    "FetchResult",
    "Log",
    "RecoveryReport",
    "SegmentInfo",
    "encode_batches",
]

LOCK_TIMEOUT_S = 30.0
# Records per batch when a caller hands over records rather than encoded batches.
DEFAULT_BATCH_RECORDS = 1000
_BASE_OFFSET = struct.Struct(">q")


class _Pending:
    """A batch about to be written: its header, bytes, assigned offset, producer update."""

    __slots__ = ("header", "data", "offset", "max_timestamp", "update")

    def __init__(self, header, data, offset, max_timestamp, update):
        self.header = header
        self.data = data
        self.offset = offset
        self.max_timestamp = max_timestamp
        self.update = update


class Log(LogReader, LogRetention, LogRecovery, LogProducerState, LogTruncation):
    """A partition's log: append batches, read by offset or time, recover, apply retention."""

    def __init__(
        self,
        directory: Path,
        config: TopicConfig,
        *,
        topic: str = "",
        partition: int = 0,
        clock: Clock = SYSTEM_CLOCK,
    ):
        self.directory = Path(directory)
        self.config = config
        self.topic = topic
        self.partition = partition
        self.clock = clock
        self._mutex = threading.RLock()
        self._file_lock = FileMutex(self.directory / PARTITION_LOCK_FILE)
        self._segments: list[Segment] = []
        self._bases: list[int] = []
        self._dir_id: tuple[int, int] | None = None
        # Where this process has scanned the active segment up to, and what it found.
        self._scanned_base = -1
        self._scan_starts_at_index = False
        self._scanned_pos = 0
        self._next_offset = 0
        self._active_max_ts = -1
        self._active_first_ts = (-1, -1)  # (segment base offset, its first batch's timestamp)
        self._write_fd: int | None = None
        self._write_fd_base = -1
        # Writes made and writes known durable, counted: flush() compares them so that a
        # flush whose writes an earlier fsync already covered costs nothing (group commit).
        self._writes = 0
        self._durable_writes = 0
        self._flush_lock = threading.Lock()
        self._read_fds: dict[int, int] = {}
        self._closed_largest_ts: dict[int, int] = {}
        self._recovered = False
        self._judged_tail: tuple[int, int, int] | None = None
        self._producer_state = ProducerState(self.directory)
        self._load_segments()

    @property
    def name(self) -> str:
        return f"{self.topic}-{self.partition}"

    # -- state ----------------------------------------------------------------------------

    def _load_segments(self) -> None:
        try:
            st = os.stat(self.directory)
            names = os.listdir(self.directory)
        except FileNotFoundError:
            raise StorageError(
                f"partition directory {self.directory} is missing; the topic may have been deleted"
            ) from None
        dir_id = (st.st_dev, st.st_ino)
        if dir_id != self._dir_id:
            # A new directory under the same name (the topic was deleted and created again):
            # nothing this process knew about the old one holds.
            if self._dir_id is not None:
                self._forget()
            self._dir_id = dir_id
        bases = sorted(
            int(n[: -len(LOG_SUFFIX)])
            for n in names
            if n.endswith(LOG_SUFFIX) and n[: -len(LOG_SUFFIX)].isdigit()
        )
        if bases != self._bases:
            self._bases = bases
            self._segments = [Segment(self.directory, b) for b in bases]
            for base in list(self._read_fds):
                if base not in bases:
                    os.close(self._read_fds.pop(base))

    def _forget(self) -> None:
        self._close_fds()
        self._bases = []
        self._segments = []
        self._scanned_base = -1
        self._scanned_pos = 0
        self._next_offset = 0
        self._active_max_ts = -1
        self._active_first_ts = (-1, -1)
        self._closed_largest_ts.clear()
        self._recovered = False
        self._producer_state.unload()

    def _scan_active(self, *, writer: bool) -> TornTail | None:
        """Bring this process's view of the active segment up to the end of its file.

        Returns the torn tail found at the end, if any.  A writer (holding the lock) also
        checks CRCs and judges whether an incomplete tail is really torn or corrupt.
        """
        if not self._segments:
            if writer:
                seg = Segment(self.directory, 0)
                seg.create()
                fsync_dir(self.directory)
                self._load_segments()
            else:
                self._next_offset = 0
                return None
        active = self._segments[-1]
        if self._scanned_base != active.base_offset:
            self._start_scan(active, from_index=True)
        fd = self._read_fd(active)
        try:
            torn = self._scan_from(active, fd, writer=writer)
        except CorruptRecord:
            if not self._scan_starts_at_index:
                raise
            # The index entry the scan started from was wrong: scan from the start.
            self._start_scan(active, from_index=False)
            torn = self._scan_from(active, fd, writer=writer)
            if writer:
                active.rebuild_indexes(fd, self.config.index_interval_bytes)
        self._scan_starts_at_index = False
        if torn is not None and not writer:
            self._judge_torn_tail(active, fd, torn)
        return torn

    def _judge_torn_tail(self, active: Segment, fd: int, torn: TornTail) -> None:
        """A reader that finds an incomplete batch at the end: being written, or damage?

        Only a writer killed mid-write or one writing right now leaves one.  If no writer
        holds the lock (a non-blocking try, so no writer ever waits for a reader), nothing is
        being written and the tail is judged as a writer would judge it: a damaged batch
        length raises CorruptRecord here rather than quietly hiding the batches after it.
        Each tail is judged once.
        """
        key = (active.base_offset, torn.position, torn.size)
        if self._judged_tail == key:
            return
        try:
            if not self._file_lock.try_acquire():
                return
        except OSError:
            return  # a read-only data directory: leave the judgement to writers
        try:
            size = os.fstat(fd).st_size
            if size == torn.position + torn.size:
                active.judge_tail(fd, torn.position, size)
                self._judged_tail = key
        finally:
            self._file_lock.release()

    def _start_scan(self, active: Segment, *, from_index: bool) -> None:
        start = 0
        max_ts = -1
        if from_index:
            entry = active.offset_index.last_entry()
            if entry is not None and self._entry_is_plausible(active, entry):
                start = entry[1]
                last_time = active.time_index.last_entry()
                max_ts = last_time[0] if last_time else -1
        self._scanned_base = active.base_offset
        self._scan_starts_at_index = start > 0
        self._scanned_pos = start
        self._next_offset = active.base_offset
        self._active_max_ts = max_ts

    def _entry_is_plausible(self, seg: Segment, entry: tuple[int, int]) -> bool:
        """Does the index entry point at a batch holding its offset?"""
        offset, position = entry
        try:
            data = os.pread(self._read_fd(seg), BATCH_HEADER_SIZE, position)
        except _SegmentGone:
            return False
        if len(data) < BATCH_HEADER_SIZE or data[16] != MAGIC:
            return False
        header = read_header(data)
        return header.base_offset <= offset <= header.last_offset

    def _scan_from(self, active: Segment, fd: int, *, writer: bool) -> TornTail | None:
        for item in active.iter_batches(fd, self._scanned_pos, check_crc=writer, judge_tail=writer):
            if isinstance(item, TornTail):
                return item
            position, header = item
            self._scanned_pos = position + header.batch_length + LOG_OVERHEAD
            self._next_offset = header.base_offset + header.last_offset_delta + 1
            if header.max_timestamp > self._active_max_ts:
                self._active_max_ts = header.max_timestamp
        if self._scanned_pos == 0 and self._next_offset < active.base_offset:
            self._next_offset = active.base_offset
        return None

    def refresh(self) -> None:
        """Catch up with appends, rolls and deletions made by other processes."""
        with self._mutex:
            for _attempt in range(3):
                self._load_segments()
                try:
                    self._scan_active(writer=False)
                    return
                except _SegmentGone:
                    continue  # only a topic deletion removes the active segment: look again
            raise StorageError(
                f"the segments of {self.name} keep disappearing; the topic may have been deleted"
            )

    @property
    def log_start_offset(self) -> int:
        """The first offset still in the log (retention moves it forward)."""
        with self._mutex:
            self._load_segments()
            return self._bases[0] if self._bases else 0

    @property
    def log_end_offset(self) -> int:
        """The offset the next appended record will get."""
        with self._mutex:
            self.refresh()
            return self._next_offset

    def size_bytes(self) -> int:
        with self._mutex:
            self._load_segments()
            return sum(s.size() for s in self._segments)

    def segments(self) -> list[SegmentInfo]:
        """Every segment, oldest first, with its offsets, size and largest timestamp."""
        with self._mutex:
            for _attempt in range(3):
                self.refresh()
                try:
                    return [
                        self._segment_info(i, seg, i == len(self._segments) - 1)
                        for i, seg in enumerate(self._segments)
                    ]
                except _SegmentGone:
                    continue  # retention in another process: look again
            raise StorageError(f"{self.name}: segments keep disappearing while listing them")

    def _segment_info(self, i: int, seg: Segment, active: bool) -> SegmentInfo:
        next_offset = self._next_offset if active else self._segments[i + 1].base_offset
        return SegmentInfo(
            base_offset=seg.base_offset,
            next_offset=next_offset,
            size_bytes=self._scanned_pos if active else seg.size(),
            largest_timestamp=self._largest_timestamp(seg, active),
            active=active,
            path=seg.log_path,
        )

    def _largest_timestamp(self, seg: Segment, active: bool) -> int:
        if active:
            return self._active_max_ts
        cached = self._closed_largest_ts.get(seg.base_offset)
        if cached is None:
            cached = seg.largest_timestamp(self._read_fd(seg))
            self._closed_largest_ts[seg.base_offset] = cached
        return cached

    def _read_fd(self, seg: Segment) -> int:
        fd = self._read_fds.get(seg.base_offset)
        if fd is None:
            try:
                fd = os.open(seg.log_path, os.O_RDONLY)
            except FileNotFoundError:
                raise _SegmentGone from None
            self._read_fds[seg.base_offset] = fd
        return fd

    # -- appending ------------------------------------------------------------------------

    def _acquire(self) -> None:
        try:
            self._file_lock.acquire(timeout=LOCK_TIMEOUT_S)
        except FileNotFoundError:
            raise StorageError(
                f"partition directory {self.directory} is missing; the topic may have been deleted"
            ) from None
        except LockTimeout:
            raise StorageError(
                f"partition {self.name} is locked by another process for more than "
                f"{LOCK_TIMEOUT_S:.0f} s ({self.directory / PARTITION_LOCK_FILE})"
            ) from None

    def _sync_for_write(self) -> None:
        """Under the lock: see others' appends, truncate a torn tail, recover once."""
        self._load_segments()
        if not self._recovered:
            self._cleanup_leftovers()
        before = (self._scanned_base, self._scanned_pos)
        torn = self._scan_active(writer=True)
        active = self._segments[-1]
        if torn is not None:
            with open(active.log_path, "r+b") as f:
                f.truncate(torn.position)
                os.fsync(f.fileno())
        if not self._recovered:
            self._repair_active_index()
            self._recovered = True
        elif (self._scanned_base, self._scanned_pos) != before:
            # Another process appended; if it was killed before writing its index entries,
            # add them now.
            self._index_from(active, self._read_fd(active))

    def append(
        self, batches: bytes | bytearray | memoryview | Sequence, *, fsync: bool = True
    ) -> AppendInfo:
        """Append encoded RecordBatch v2 batches; return the offsets they were given.

        Each batch is validated (magic, length, CRC, record count) and checked against
        max.message.bytes before anything is written: a bad batch rejects the whole call and
        changes nothing.  The bytes are stored as they are but for baseOffset (and, with
        LogAppendTime, the timestamp and CRC).  The data is fsynced before this returns
        unless ``fsync=False``.  Batches of idempotent producers are checked for duplicates
        and sequence gaps: see ``storage.producer_state``.
        """
        if isinstance(batches, (bytes, bytearray, memoryview)):
            batches = [batches]
        items: list[tuple[BatchHeader, bytes | bytearray | memoryview]] = []
        max_bytes = self.config.max_message_bytes
        for i, batch in enumerate(batches):
            where = f"batch {i} for {self.name}"
            header = validate_batch(batch, where=where)
            if header.records_count != header.last_offset_delta + 1:
                raise CorruptRecord(
                    f"{where}: recordsCount is {header.records_count} but lastOffsetDelta "
                    f"{header.last_offset_delta} implies {header.last_offset_delta + 1}"
                )
            if header.size > max_bytes:
                raise RecordTooLarge(
                    f"a batch of {header.size} bytes is larger than max.message.bytes="
                    f"{max_bytes} of topic '{self.topic}'; send smaller records or raise the "
                    f"limit with --config max.message.bytes=N"
                )
            items.append((header, batch))
        return self._append(items, fsync=fsync)

    def append_records(
        self,
        records: Sequence[ProducerRecord | bytes],
        *,
        fsync: bool = True,
        batch_records: int = DEFAULT_BATCH_RECORDS,
        producer_id: int = NO_PRODUCER_ID,
        producer_epoch: int = NO_PRODUCER_EPOCH,
        base_sequence: int = NO_SEQUENCE,
    ) -> AppendInfo:
        """Encode ``records`` into batches (CreateTime = now unless given) and append them.

        A record is a ProducerRecord or, for a record with a value only, the value's bytes.

        With ``producer_id``, ``producer_epoch`` and ``base_sequence`` the batches are an
        idempotent producer's: the first record has sequence ``base_sequence`` and a retry
        of the same call is recognised as a duplicate.
        """
        now = self.clock.now_ms()
        batches = encode_batches(
            records,
            now,
            self.config.max_message_bytes,
            batch_records,
            producer_id=producer_id,
            producer_epoch=producer_epoch,
            base_sequence=base_sequence,
        )
        # Encoded just now: no need to check what encode_batch guarantees.
        return self._append([(read_header(b), b) for b in batches], fsync=fsync)

    def _append(self, items: list, *, fsync: bool) -> AppendInfo:
        if not items:
            raise StorageError("nothing to append: no batches given")
        with self._mutex:
            self._acquire()
            try:
                self._sync_for_write()
                return self._append_locked(items, fsync=fsync)
            finally:
                self._file_lock.release()

    def _append_locked(self, items: list, *, fsync: bool) -> AppendInfo:
        now = self.clock.now_ms()
        log_append = self.config.message_timestamp_type == LOG_APPEND_TIME
        updates = self._check_producers(items, now if log_append else -1)
        if isinstance(updates, AppendInfo):
            return updates
        first_offset = self._next_offset
        next_offset = first_offset
        pending: list[_Pending] = []
        pending_bytes = 0
        rolled = False
        for (header, data), update in zip(items, updates, strict=True):
            size = header.batch_length + LOG_OVERHEAD
            if self._should_roll(header, size, pending_bytes, next_offset, now):
                self._write(pending, fsync=fsync)
                pending = []
                pending_bytes = 0
                self._roll()
                rolled = True
            max_ts = header.max_timestamp
            if log_append:
                data = bytearray(data)
                set_log_append_time(data, now)
                max_ts = now
            pending.append(_Pending(header, data, next_offset, max_ts, update))
            pending_bytes += size
            next_offset += header.last_offset_delta + 1
        self._write(pending, fsync=fsync)
        if rolled:
            self._apply_retention_locked()
        return AppendInfo(
            base_offset=first_offset,
            last_offset=self._next_offset - 1,
            log_append_time=now if log_append else -1,
            log_start_offset=self._bases[0],
        )

    def _check_producers(self, items: list, log_append_time: int) -> list | AppendInfo:
        """Producer updates per batch (None for non-idempotent ones), or the AppendInfo of a
        retry whose batches are all in the log already."""
        updates: list[ProducerUpdate | None] = [None] * len(items)
        if not any(h.producer_id >= 0 and h.base_sequence >= 0 for h, _ in items):
            return updates
        self._catch_up_producer_state()
        check = self._producer_state.begin()
        duplicates: list[BatchMetadata] = []
        offset = self._next_offset
        for i, (h, _data) in enumerate(items):
            if h.producer_id >= 0 and h.base_sequence >= 0:
                duplicate = check.check(
                    h.producer_id, h.producer_epoch, h.base_sequence, h.last_offset_delta
                )
                if duplicate is not None:
                    duplicates.append(duplicate)
                    continue
                update = ProducerUpdate(
                    h.producer_id,
                    h.producer_epoch,
                    BatchMetadata(
                        h.base_sequence,
                        last_sequence(h.base_sequence, h.last_offset_delta),
                        offset,
                        offset + h.last_offset_delta,
                        log_append_time if log_append_time >= 0 else h.max_timestamp,
                    ),
                )
                check.record(update)
                updates[i] = update
            offset += h.last_offset_delta + 1
        if not duplicates:
            return updates
        if len(duplicates) == len(items):
            return AppendInfo(
                base_offset=duplicates[0].first_offset,
                last_offset=duplicates[-1].last_offset,
                log_append_time=-1,
                log_start_offset=self._bases[0],
                duplicate=True,
            )
        raise DuplicateSequence(
            f"{len(duplicates)} of the {len(items)} batches sent to {self.name} are already in "
            f"the log (an idempotent producer's retry mixed with new batches); nothing was "
            f"written: send the new batches on their own"
        )

    def _should_roll(
        self, header: BatchHeader, size: int, pending_bytes: int, next_offset: int, now: int
    ) -> bool:
        active = self._segments[-1]
        current_size = self._scanned_pos + pending_bytes
        if current_size == 0:
            return False
        if current_size + size > self.config.segment_bytes:
            return True
        if next_offset + header.last_offset_delta - active.base_offset > INT32_MAX:
            return True
        first_ts = self._first_batch_timestamp(active)
        return first_ts >= 0 and now - first_ts > self.config.segment_ms

    def _first_batch_timestamp(self, seg: Segment) -> int:
        """What segment.ms is judged by, as in Kafka: the first batch's largest timestamp."""
        if self._active_first_ts[0] == seg.base_offset:
            return self._active_first_ts[1]
        data = os.pread(self._read_fd(seg), BATCH_HEADER_SIZE, 0)
        if len(data) < BATCH_HEADER_SIZE:
            return -1
        ts = read_header(data).max_timestamp
        self._active_first_ts = (seg.base_offset, ts)
        return ts

    def _writer_fd(self, active: Segment) -> int:
        if self._write_fd_base != active.base_offset:
            self._close_write_fd()
            self._write_fd = os.open(active.log_path, os.O_WRONLY | os.O_APPEND)
            self._write_fd_base = active.base_offset
        return self._write_fd

    def _close_write_fd(self) -> None:
        if self._write_fd is not None:
            if self._durable_writes < self._writes:
                os.fsync(self._write_fd)
                self._durable_writes = self._writes
            os.close(self._write_fd)
            self._write_fd = None
            self._write_fd_base = -1

    def _write(self, pending: list[_Pending], *, fsync: bool) -> None:
        """Write batches to the active segment, then index them and record producer state.

        Offsets go in as separate 8-byte pieces of one ``writev``, so the callers' bytes are
        never copied.  In-memory state moves only once the bytes are on disk: a failed write
        leaves a torn tail that the next append truncates.
        """
        if not pending:
            return
        active = self._segments[-1]
        fd = self._writer_fd(active)
        iov: list = []
        for p in pending:
            iov.append(_BASE_OFFSET.pack(p.offset))
            iov.append(memoryview(p.data)[8:])
        writev_all(fd, iov)
        self._writes += 1
        if fsync:
            os.fsync(fd)
            self._durable_writes = self._writes
        # Index entries, as Kafka's LogSegment.append makes them: one whenever more than
        # index.interval.bytes have been appended since the last entry.
        entry = active.offset_index.last_entry()
        last_indexed_pos = entry[1] if entry else 0
        last_time = active.time_index.last_entry()
        interval = self.config.index_interval_bytes
        position = self._scanned_pos
        max_ts = self._active_max_ts
        offset_entries = []
        time_entries = []
        state = self._producer_state
        state_current = state.end_offset == self._next_offset
        for p in pending:
            if p.max_timestamp > max_ts:
                max_ts = p.max_timestamp
            last_offset = p.offset + p.header.last_offset_delta
            if position - last_indexed_pos > interval:
                offset_entries.append((last_offset, position))
                if last_time is None or max_ts > last_time[0]:
                    last_time = (max_ts, last_offset)
                    time_entries.append(last_time)
                last_indexed_pos = position
            position += len(p.data)
            if state_current and p.update is not None:
                state.apply(p.update)
        active.offset_index.append_entries(offset_entries)
        active.time_index.append_entries(time_entries)
        self._active_max_ts = max_ts
        self._scanned_pos = position
        self._next_offset = last_offset + 1
        if state_current:
            state.end_offset = self._next_offset

    def _roll(self) -> None:
        old = self._segments[-1]
        # The old segment is closed for good: make it and its indexes durable.
        self._close_write_fd()
        for path in (old.offset_index.path, old.time_index.path):
            fsync_file(path)
        # Close the old segment's time index with its largest timestamp (as Kafka does on roll)
        # so retention can judge it without scanning.
        last_time = old.time_index.last_entry()
        if self._active_max_ts >= 0 and (last_time is None or self._active_max_ts > last_time[0]):
            old.time_index.append(self._active_max_ts, self._next_offset - 1)
        self._closed_largest_ts[old.base_offset] = self._active_max_ts
        state = self._producer_state
        if state.end_offset == self._next_offset:
            # Written before the segment exists, so a segment always has its snapshot.
            state.write_snapshot()
        new = Segment(self.directory, self._next_offset)
        new.create()
        fsync_dir(self.directory)
        self._load_segments()
        self._scanned_base = new.base_offset
        self._scan_starts_at_index = False
        self._scanned_pos = 0
        self._active_max_ts = -1

    def flush(self) -> None:
        """Make everything this object appended with ``fsync=False`` durable.

        The fsync runs without holding the log, so other threads keep appending meanwhile;
        flushes that arrive during an fsync wait for it and then need at most one more, which
        covers all of them (group commit).  A producer thread can thus hand flushes to a
        flusher thread and encode the next records while the disk works.
        """
        with self._mutex:
            target = self._writes
        with self._flush_lock:
            with self._mutex:
                if self._durable_writes >= target:
                    return
                covered = self._writes
                fd = os.dup(self._write_fd)  # a roll may close the original meanwhile
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            with self._mutex:
                self._durable_writes = max(self._durable_writes, covered)

    def _close_fds(self) -> None:
        for fd in self._read_fds.values():
            os.close(fd)
        self._read_fds.clear()
        self._close_write_fd()

    def close(self) -> None:
        """Flush what was appended with ``fsync=False`` and release file descriptors."""
        with self._mutex:
            self._close_fds()
            self._file_lock.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def encode_batches(
    records: Sequence[ProducerRecord | bytes],
    timestamp: int,
    max_batch_bytes: int,
    batch_records: int,
    *,
    producer_id: int = NO_PRODUCER_ID,
    producer_epoch: int = NO_PRODUCER_EPOCH,
    base_sequence: int = NO_SEQUENCE,
) -> list[bytes]:
    """Split records into batches of at most ``batch_records`` records and about
    ``max_batch_bytes`` bytes; a single record that cannot fit is RecordTooLarge.

    With a ``base_sequence``, each batch's base sequence continues the previous one's."""
    out: list[bytes] = []
    start = 0
    n = len(records)
    sequence = base_sequence
    while start < n:
        chunk = records[start : start + batch_records]
        while True:
            batch = encode_batch(
                chunk,
                timestamp=timestamp,
                producer_id=producer_id,
                producer_epoch=producer_epoch,
                base_sequence=sequence,
            )
            if len(batch) <= max_batch_bytes or len(chunk) == 1:
                break
            chunk = chunk[: max(1, len(chunk) // 2)]
        if len(batch) > max_batch_bytes:
            size = len(batch) - BATCH_HEADER_SIZE
            raise RecordTooLarge(
                f"a record of about {size} bytes does not fit in max.message.bytes="
                f"{max_batch_bytes}; raise it with --config max.message.bytes=N"
            )
        out.append(batch)
        start += len(chunk)
        if sequence >= 0:
            sequence = (sequence + len(chunk)) % (INT32_MAX + 1)
    return out
