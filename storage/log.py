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

This module holds ``Log`` itself (locking, refresh, append, roll, flush) and
``encode_batches``.  ``Log`` is composed of parts with one job each, one module each, which
share nothing but the ``LogSegments`` (``storage.log_segments``: the segments and how far the
active one is complete): the read path (``LogReader``, ``storage.log_reader``), retention
(``LogRetention``, ``storage.retention``), recovery and verification (``LogRecovery``,
``storage.recovery``), the producer-state catch-up (``ProducerStateLoader``,
``storage.log_producer_state``) and truncation (``LogTruncation``,
``storage.log_truncation``).  Writing bytes and their index entries is the active
``Segment``'s job (``Segment.append``).  The values it returns are in ``storage.log_types``
and re-exported here.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from storage.clock import SYSTEM_CLOCK, Clock
from storage.constants import (
    BATCH_HEADER_SIZE,
    INT32_MAX,
    LOG_OVERHEAD,
    NO_PRODUCER_EPOCH,
    NO_PRODUCER_ID,
    NO_SEQUENCE,
    PARTITION_LOCK_FILE,
)
from storage.errors import RecordTooLarge, StorageError
from storage.fileio import fsync_dir
from storage.flock import FileMutex, LockTimeout
from storage.log_producer_state import SNAPSHOT_AFTER_BATCHES, LogProducerState
from storage.log_reader import DEFAULT_FETCH_BYTES, LogReader
from storage.log_segments import LogSegments
from storage.log_truncation import LogTruncation
from storage.log_types import (
    AppendInfo,
    DeletedSegment,
    FetchResult,
    RecoveryReport,
    SegmentInfo,
    _SegmentGone,
)
from storage.producer_state import ProducerState, ProducerUpdate
from storage.records import (
    LOG_APPEND_TIME,
    BatchHeader,
    ProducerRecord,
    Record,
    encode_batches,
    read_header,
    set_log_append_time,
    validate_batch,
)
from storage.recovery import LogRecovery
from storage.retention import LogRetention
from storage.segment import AppendBatch, Segment, TornTail
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


class Log:
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
        self._segs = LogSegments(self.directory, self.name)
        self._producer_state = ProducerState(self.directory)
        self._reader = LogReader(self._segs, self.refresh, self._mutex)
        self._retention = LogRetention(self._segs, self._producer_state, clock)
        self._recovery = LogRecovery(self._segs, self._producer_state)
        self._truncation = LogTruncation(self._segs, self._producer_state)
        self._producers = LogProducerState(self._segs, self._producer_state)
        self._active_first_ts = (-1, -1)  # (segment base offset, its first batch's timestamp)
        self._write_fd: int | None = None
        self._write_fd_base = -1
        # Writes made and writes known durable, counted: flush() compares them so that a
        # flush whose writes an earlier fsync already covered costs nothing (group commit).
        self._writes = 0
        self._durable_writes = 0
        self._flush_lock = threading.Lock()
        self._recovered = False
        self._judged_tail: tuple[int, int, int] | None = None
        self._load_segments()

    @property
    def name(self) -> str:
        return f"{self.topic}-{self.partition}"

    # -- state ----------------------------------------------------------------------------

    def _load_segments(self) -> None:
        if self._segs.load():
            # A new directory under the same name: nothing known about the old one holds.
            self._close_write_fd()
            self._active_first_ts = (-1, -1)
            self._recovered = False
            self._producer_state.unload()

    def _scan_active(self, *, writer: bool) -> TornTail | None:
        torn = self._segs.scan_active(
            writer=writer, index_interval_bytes=self.config.index_interval_bytes
        )
        if torn is not None and not writer:
            self._judge_torn_tail(torn)
        return torn

    def _judge_torn_tail(self, torn: TornTail) -> None:
        """A reader that finds an incomplete batch at the end: being written, or damage?

        Only a writer killed mid-write or one writing right now leaves one.  If no writer
        holds the lock (a non-blocking try, so no writer ever waits for a reader), nothing is
        being written and the tail is judged as a writer would judge it: a damaged batch
        length raises CorruptRecord here rather than quietly hiding the batches after it.
        Each tail is judged once.
        """
        active = self._segs.active
        key = (active.base_offset, torn.position, torn.size)
        if self._judged_tail == key:
            return
        try:
            if not self._file_lock.try_acquire():
                return
        except OSError:
            return  # a read-only data directory: leave the judgement to writers
        try:
            fd = self._segs.read_fd(active)
            size = os.fstat(fd).st_size
            if size == torn.position + torn.size:
                active.judge_tail(fd, torn.position, size)
                self._judged_tail = key
        finally:
            self._file_lock.release()

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
            return self._segs.log_start_offset

    @property
    def log_end_offset(self) -> int:
        """The offset the next appended record will get."""
        with self._mutex:
            self.refresh()
            return self._segs.log_end_offset

    def size_bytes(self) -> int:
        with self._mutex:
            self._load_segments()
            return sum(s.size() for s in self._segs.segments)

    def segments(self) -> list[SegmentInfo]:
        """Every segment, oldest first, with its offsets, size and largest timestamp."""
        with self._mutex:
            for _attempt in range(3):
                self.refresh()
                try:
                    return [self._segs.info(i) for i in range(len(self._segs.segments))]
                except _SegmentGone:
                    continue  # retention in another process: look again
            raise StorageError(f"{self.name}: segments keep disappearing while listing them")

    # -- reading (LogReader) ----------------------------------------------------------------

    def read(self, offset: int, max_bytes: int = DEFAULT_FETCH_BYTES) -> FetchResult:
        """Whole batches starting with the one holding ``offset``, about ``max_bytes`` of them.

        At least one batch is returned even if it is larger than ``max_bytes`` (as Kafka's
        Fetch does), so a consumer always makes progress.  Empty at the log end offset.
        """
        return self._reader.read(offset, max_bytes)

    def read_records(
        self, offset: int, max_records: int | None = None, max_bytes: int = DEFAULT_FETCH_BYTES
    ) -> list[Record]:
        """Decoded records from ``offset`` on (at most ``max_records``); [] at the end.

        Without ``max_records``, what one fetch of ``max_bytes`` returns.  With a small
        ``max_records`` only the batches needed are read and decoded, so a point read costs
        one index lookup and one batch, however long the partition.
        """
        return self._reader.read_records(offset, max_records, max_bytes)

    def offset_for_time(self, timestamp: int) -> int | None:
        """The earliest offset whose record timestamp is >= ``timestamp`` (None: none is)."""
        return self._reader.offset_for_time(timestamp)

    # -- retention, recovery (LogRetention, LogRecovery) ------------------------------------

    def apply_retention(self) -> list[DeletedSegment]:
        """Delete closed segments past retention.ms or beyond retention.bytes.

        Whole segments only, oldest first, never the active one; ``log_start_offset`` moves to
        the base offset of the first segment left.  A segment is past retention.ms when its
        largest record timestamp is older than retention.ms.
        """
        with self._mutex, self._locked():
            self._sync_for_write()
            return self._apply_retention_locked()

    def _apply_retention_locked(self) -> list[DeletedSegment]:
        return self._retention.delete_expired(self.config.retention_ms, self.config.retention_bytes)

    def delete_segments_before(self, offset: int) -> list[DeletedSegment]:
        """Delete the closed segments whose records all lie below ``offset`` (Kafka's
        DeleteRecords, at segment granularity: ``log_start_offset`` moves to the base offset
        of the first segment left, which may be below ``offset``)."""
        with self._mutex, self._locked():
            self._sync_for_write()
            return self._retention.delete_before(offset)

    def recover(self) -> RecoveryReport:
        """Verify every segment, truncate a torn tail, rebuild missing or damaged indexes.

        A CRC mismatch anywhere but in an incomplete last batch raises CorruptRecord naming
        the file and byte position: it is never truncated away.
        """
        with self._mutex, self._locked():
            truncated, rebuilt, removed = self._recovery.recover(self.config.index_interval_bytes)
            self._recovered = False
            self._sync_for_write()
            return RecoveryReport(
                log_end_offset=self._segs.log_end_offset,
                truncated_bytes=truncated,
                rebuilt_indexes=tuple(rebuilt),
                removed_files=tuple(removed),
            )

    def truncate_to(self, offset: int) -> int:
        """Remove every batch at or after ``offset``; return the new log end offset.

        A no-op when the log ends at or before ``offset``.  Below the log start offset the
        log is emptied and starts again at ``offset`` (Kafka's truncateFullyAndStartAt).
        """
        with self._mutex, self._locked():
            self._sync_for_write()
            if offset >= self._segs.log_end_offset:
                return self._segs.log_end_offset
            self._close_write_fd()
            self._truncation.truncate_to(offset)
            self._active_first_ts = (-1, -1)
            self._scan_active(writer=True)
            return self._segs.log_end_offset

    def check(self) -> None:
        """Read-only verification of every batch's CRC and every index; raises on damage."""
        with self._mutex:
            self._recovery.check()

    # -- appending ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self):
        """Hold the partition's file lock (other processes' writers wait for it)."""
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
        try:
            yield
        finally:
            self._file_lock.release()

    def _sync_for_write(self) -> None:
        """Under the lock: see others' appends, truncate a torn tail, recover once."""
        segs = self._segs
        self._load_segments()
        if not self._recovered:
            self._recovery.cleanup_leftovers()
        before = (segs.active.base_offset if segs.segments else -1, segs.end_position)
        torn = self._scan_active(writer=True)
        active = segs.active
        if torn is not None:
            with open(active.log_path, "r+b") as f:
                f.truncate(torn.position)
                os.fsync(f.fileno())
        interval = self.config.index_interval_bytes
        if not self._recovered:
            if self._recovery.repair_active_index(interval):
                segs.rescan()
                self._scan_active(writer=True)
            self._recovered = True
        elif (active.base_offset, segs.end_position) != before:
            # Another process appended; if it was killed before writing its index entries,
            # add them now.
            active.index_from(segs.read_fd(active), interval, segs.end_position)

    def append(
        self, batches: bytes | bytearray | memoryview | Sequence, *, fsync: bool = True
    ) -> AppendInfo:
        """Append encoded RecordBatch v2 batches; return the offsets they were given.

        Every batch is validated record by record (``storage.log_validator``, as Kafka's
        LogValidator) and checked against max.message.bytes before anything is written: an
        invalid batch rejects the whole call (InvalidRecord or CorruptRecord naming it) and
        changes nothing.  The bytes are stored as they are but for baseOffset (and, with
        LogAppendTime, the timestamp and CRC).  The data is fsynced before this returns
        unless ``fsync=False``.  Batches of idempotent producers are checked for duplicates
        and sequence gaps: see ``storage.producer_state``.
        """
        if isinstance(batches, (bytes, bytearray, memoryview)):
            batches = [batches]
        return self._append(self._validated(batches), fsync=fsync)

    def _validated(self, batches: Sequence) -> list[tuple[BatchHeader, bytes]]:
        items: list[tuple[BatchHeader, bytes | bytearray | memoryview]] = []
        max_bytes = self.config.max_message_bytes
        for i, batch in enumerate(batches):
            header = validate_batch(batch, where=f"batch {i} for {self.name}")
            if header.size > max_bytes:
                raise RecordTooLarge(
                    f"a batch of {header.size} bytes is larger than max.message.bytes="
                    f"{max_bytes} of topic '{self.topic}'; send smaller records or raise the "
                    f"limit with --config max.message.bytes=N"
                )
            items.append((header, batch))
        return items

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
        # Validated all the same: every path into the log passes the same checks.
        return self._append(self._validated(batches), fsync=fsync)

    def _append(self, items: list, *, fsync: bool) -> AppendInfo:
        if not items:
            raise StorageError("nothing to append: no batches given")
        with self._mutex, self._locked():
            self._sync_for_write()
            return self._append_locked(items, fsync=fsync)

    def _append_locked(self, items: list, *, fsync: bool) -> AppendInfo:
        segs = self._segs
        now = self.clock.now_ms()
        log_append = self.config.message_timestamp_type == LOG_APPEND_TIME
        updates = self._producers.check(
            items, segs.log_end_offset, now if log_append else -1, self.name
        )
        if isinstance(updates, AppendInfo):
            return updates
        first_offset = segs.log_end_offset
        next_offset = first_offset
        pending: list[tuple[AppendBatch, ProducerUpdate | None]] = []
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
            last_offset = next_offset + header.last_offset_delta
            pending.append((AppendBatch(next_offset, last_offset, max_ts, data), update))
            pending_bytes += size
            next_offset = last_offset + 1
        self._write(pending, fsync=fsync)
        if rolled:
            self._apply_retention_locked()
        return AppendInfo(
            base_offset=first_offset,
            last_offset=segs.log_end_offset - 1,
            log_append_time=now if log_append else -1,
            log_start_offset=segs.log_start_offset,
        )

    def _should_roll(
        self, header: BatchHeader, size: int, pending_bytes: int, next_offset: int, now: int
    ) -> bool:
        active = self._segs.active
        current_size = self._segs.end_position + pending_bytes
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
        data = os.pread(self._segs.read_fd(seg), BATCH_HEADER_SIZE, 0)
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

    def _write(self, pending: list[tuple[AppendBatch, ProducerUpdate | None]], *, fsync: bool):
        """Write batches to the active segment (which indexes them), then record producer
        state.  In-memory state moves only once the bytes are on disk: a failed write leaves
        a torn tail that the next append truncates."""
        if not pending:
            return
        segs = self._segs
        active = segs.active
        fd = self._writer_fd(active)
        batches = [b for b, _update in pending]
        end_position, max_ts = active.append(
            fd,
            segs.end_position,
            batches,
            max_timestamp=segs.active_max_timestamp,
            index_interval_bytes=self.config.index_interval_bytes,
        )
        self._writes += 1
        if fsync:
            os.fsync(fd)
            self._durable_writes = self._writes
        state = self._producer_state
        state_current = state.end_offset == segs.log_end_offset
        log_end_offset = batches[-1].last_offset + 1
        segs.appended(end_position, log_end_offset, max_ts)
        if state_current:
            for _batch, update in pending:
                if update is not None:
                    state.apply(update)
            state.end_offset = log_end_offset

    def _roll(self) -> None:
        segs = self._segs
        old = segs.active
        # The old segment is closed for good: make it and its indexes durable.
        self._close_write_fd()
        old.seal(segs.active_max_timestamp, segs.log_end_offset - 1)
        segs.sealed(old, segs.active_max_timestamp)
        state = self._producer_state
        if state.end_offset == segs.log_end_offset:
            # Written before the segment exists, so a segment always has its snapshot.
            state.write_snapshot()
        new = Segment(self.directory, segs.log_end_offset)
        new.create()
        fsync_dir(self.directory)
        segs.rolled_to(new)

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

    def close(self) -> None:
        """Flush what was appended with ``fsync=False`` and release file descriptors."""
        with self._mutex:
            self._segs.close()
            self._close_write_fd()
            self._file_lock.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
