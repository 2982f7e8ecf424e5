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

This module holds ``Log`` itself (refresh, append, roll) and ``encode_batches``.  The
append's descriptor and its group-commit ``flush`` are the ``LogWriter``'s
(``storage.log_writer``); holding the partition's lock is ``storage.partition_lock``; what an
append checks of every batch is ``storage.append_checks``.  ``Log`` is composed of parts with
one job each, one module each, which share nothing but the ``LogSegments``
(``storage.log_segments``: the segments and how far the active one is complete): the read path (``LogReader``, ``storage.log_reader``), retention
(``LogRetention``, ``storage.retention``), recovery and verification (``LogRecovery``,
``storage.recovery``), the producer-state catch-up (``ProducerStateLoader``,
``storage.log_producer_state``) and truncation (``LogTruncation``,
``storage.log_truncation``).  Writing bytes and their index entries is the active
``Segment``'s job (``Segment.append``).  The values it returns are in ``storage.log_types``
and re-exported here.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from storage.append_checks import validate_for_append
from storage.cleaner_checkpoint import CleanerCheckpoint
from storage.clock import SYSTEM_CLOCK, Clock
from storage.constants import (
    LOG_SUFFIX,
    NO_PRODUCER_EPOCH,
    NO_PRODUCER_ID,
    NO_SEQUENCE,
    PARTITION_LOCK_FILE,
)
from storage.errors import DataDirError, InvalidRecord, StorageError
from storage.flock import FileMutex
from storage.log_append import LogAppend
from storage.log_checkpoints import LogCheckpoints
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
from storage.log_writer import LogWriter
from storage.partition_lock import LOCK_TIMEOUT_S, partition_locked
from storage.producer_state import ProducerState
from storage.records import (
    ProducerRecord,
    Record,
    encode_batches,
)
from storage.recovery import LogProblem, LogRecovery, OffsetVerifier
from storage.retention import LogRetention
from storage.segment import TornTail, segment_filename
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

# Records per batch when a caller hands over records rather than encoded batches (the
# local Producer too); chosen from benchmarks/bench_batch_size.py, see docs/performance.md.
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
        on_roll: Callable[[Log], object] | None = None,
    ):
        self.directory = Path(directory)
        # Called after an append that closed a segment of a compacted topic (the store runs
        # its cleaner there: the dirty ratio may have passed min.cleanable.dirty.ratio).
        self._on_roll = on_roll
        self.config = config
        self.topic = topic
        self.partition = partition
        self.clock = clock
        self._mutex = threading.RLock()
        self._file_lock = FileMutex(self.directory / PARTITION_LOCK_FILE)
        self._segs = LogSegments(self.directory, self.name)
        self._producer_state = ProducerState(self.directory)
        self._reader = LogReader(self._segs, self.refresh, self._mutex)
        self._checkpoints = LogCheckpoints(self.directory, topic, partition)
        self._verifier = OffsetVerifier(self._segs, self._checkpoints)
        self._verified_bases: list[int] | None = None
        self._retention = LogRetention(self._segs, self._producer_state, self._checkpoints, clock)
        self._recovery = LogRecovery(self._segs, self._producer_state)
        self._truncation = LogTruncation(self._segs, self._producer_state, self._checkpoints)
        self._producers = LogProducerState(self._segs, self._producer_state)
        self._writer = LogWriter(self._mutex)
        self._appends = LogAppend(
            self.directory,
            self.name,
            self._segs,
            self._writer,
            self._producers,
            self._producer_state,
            self._checkpoints,
            clock,
        )
        self._recovered = False
        self._judged_tail: tuple | None = None  # (segment, torn tail): each is judged once
        self._segs.load()  # offsets are verified on first use, so that recover() can run

    @property
    def name(self) -> str:
        return f"{self.topic}-{self.partition}"

    # -- state ----------------------------------------------------------------------------

    def _load_segments(self) -> None:
        if self._segs.load():
            # A new directory under the same name: nothing known about the old one holds.
            self._writer.close()
            self._recovered = False
            self._verified_bases = None
            self._recovery = LogRecovery(self._segs, self._producer_state)
            self._producer_state.unload()
        if self._segs.bases != self._verified_bases:
            self._verify_offsets()

    def _allows_gaps(self) -> bool:
        """Compaction leaves gaps: in a compacted log, or one the cleaner cleaned before its
        cleanup.policy changed (the cleaner checkpoint names it)."""
        if self.config.compacted:
            return True
        return CleanerCheckpoint(self.directory.parent).get(self.topic, self.partition) is not None

    def _verify_offsets(self) -> None:
        """On open (and whenever the segments change): offsets contiguous and never behind
        the checkpoints, indexes sane (see ``OffsetVerifier`` and ``LogRecovery``)."""
        allow_gaps = self._allows_gaps()
        self._verifier.verify_on_open(self.name, allow_gaps=allow_gaps)
        self._recovery.check_indexes_on_open(self._file_lock, self.config.index_interval_bytes)
        self._verified_bases = list(self._segs.bases)

    def _scan_active(self, *, writer: bool) -> TornTail | None:
        torn = self._segs.scan_active(
            writer=writer, index_interval_bytes=self.config.index_interval_bytes
        )
        if torn is not None and not writer:
            key = (self._segs.active.base_offset, torn)
            if self._judged_tail != key and self._segs.judge_torn_tail(torn, self._file_lock):
                self._judged_tail = key
        return torn

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
        the base offset of the first segment left.  Only with ``delete`` in cleanup.policy.
        A segment is past retention.ms when its
        largest record timestamp is older than retention.ms.
        """
        with self._mutex, self._locked():
            self._sync_for_write()
            return self._apply_retention_locked()

    def _apply_retention_locked(self) -> list[DeletedSegment]:
        if not self.config.deletes:
            return []  # cleanup.policy=compact alone keeps records forever, as in Kafka
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
            truncated, rebuilt, removed = self._recovery.recover(
                self.config.index_interval_bytes, allow_gaps=self._allows_gaps()
            )
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
            self._writer.close()
            self._truncation.truncate_to(offset)
            self._active_first_ts = (-1, -1)
            self._scan_active(writer=True)
            return self._segs.log_end_offset

    def check(self) -> None:
        """Read-only verification of every batch's CRC and every index; raises on damage."""
        with self._mutex:
            self._recovery.check()

    def examine(
        self, *, repair: bool = False, truncate_after_corruption: bool = False
    ) -> list[LogProblem]:
        """Everything wrong in this partition (``kcli check``): every batch record by record,
        indexes, offsets against the checkpoints, producer snapshots, leftovers.  With
        ``repair``, under the lock, fix what loses no data; with
        ``truncate_after_corruption`` too, truncate at the first corrupt batch or gap."""
        with self._mutex:
            if not repair:
                return self._examine(False, False)
            with self._locked():
                try:
                    return self._examine(True, truncate_after_corruption)
                finally:
                    self._recovered = False
                    self._verified_bases = None
                    self._writer.close()

    def _examine(self, repair: bool, truncate: bool) -> list[LogProblem]:
        return self._recovery.examine(
            self.config.index_interval_bytes,
            self._verifier,
            self._checkpoints,
            allow_gaps=self._allows_gaps(),
            repair=repair,
            truncate_after_corruption=truncate,
        )

    # -- appending ------------------------------------------------------------------------

    def _locked(self):
        """Hold the partition's file lock (other processes' writers wait for it)."""
        return partition_locked(self._file_lock, self.directory, self.name)

    def _sync_for_write(self) -> None:
        """Under the lock: see others' appends, truncate a torn tail, recover once."""
        segs = self._segs
        self._load_segments()
        if not self._recovered:
            self._recovery.cleanup_leftovers(self.config.index_interval_bytes)
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
        return self._append(
            validate_for_append(batches, self.config, self.topic, self.name), fsync=fsync
        )

    def append_as_follower(
        self, batches: Sequence[bytes | bytearray | memoryview], *, fsync: bool = False
    ) -> AppendInfo:
        """Append batches copied from this partition's leader at the offsets the leader gave
        them, as Kafka's ``appendAsFollower``: validated as any append is (a compacted topic's
        batches may be as the leader's cleaner rewrote them), the first at or after the log end
        offset, a gap before a batch being a section the leader's cleaner emptied.  Idempotent
        producers' state is recorded without the leader's duplicate and sequence checks.
        Not fsynced by default: a follower relies on replication, as Kafka's do."""
        items = validate_for_append(batches, self.config, self.topic, self.name, as_follower=True)
        return self._append(items, fsync=fsync, as_follower=True)

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
        return self._append(
            validate_for_append(batches, self.config, self.topic, self.name), fsync=fsync
        )

    def _append(self, items: list, *, fsync: bool, as_follower: bool = False) -> AppendInfo:
        if not items:
            raise StorageError("nothing to append: no batches given")
        with self._mutex, self._locked():
            self._sync_for_write()
            active_before = self._segs.active.base_offset
            if as_follower and items[0][0].base_offset < self._segs.log_end_offset:
                raise InvalidRecord(
                    f"{self.name}: the leader's batch at offset {items[0][0].base_offset} is "
                    f"below this log's end offset {self._segs.log_end_offset}; truncate first"
                )
            info = self._append_locked(items, fsync=fsync, as_follower=as_follower)
            rolled = self._segs.active.base_offset != active_before
        if rolled and self.config.compacted and self._on_roll is not None:
            self._on_roll(self)
        return info

    # -- what the cleaner (storage.cleaner) needs -------------------------------------------

    def producer_last_offsets(self) -> dict[int, set[int]]:
        """Each idempotent producer's last batch's last offset: the batches the cleaner keeps
        even when empty, so that the producer's sequence survives (as Kafka does)."""
        with self._mutex, self._locked():
            self._sync_for_write()
            self._producers.catch_up()
            return {
                pid: {entry.batches[-1].last_offset}
                for pid, entry in self._producer_state.producers.items()
                if entry.batches
            }

    def swap_segment(self, base_offset: int, inode: int, swap) -> bool:
        """Under the partition lock, run ``swap`` (which replaces segment ``base_offset``'s
        files) if that segment still is the file the cleaner read; False if it is gone."""
        with self._mutex, self._locked():
            self._sync_for_write()
            try:
                current = os.stat(self.directory / segment_filename(base_offset, LOG_SUFFIX))
            except FileNotFoundError:
                return False  # retention deleted it meanwhile
            if current.st_ino != inode or base_offset == self._segs.bases[-1]:
                return False
            swap()
            self._load_segments()
            return True

    def _append_locked(self, items: list, *, fsync: bool, as_follower: bool = False) -> AppendInfo:
        try:
            info, rolled = self._appends.write(
                items, self.config, fsync=fsync, as_follower=as_follower
            )
        except DataDirError:
            self._recovered = False  # rolled back: scan again before the next append
            raise
        if rolled:
            self._verified_bases = list(self._segs.bases)
            self._apply_retention_locked()
            info = dataclasses.replace(info, log_start_offset=self._segs.log_start_offset)
        return info

    def flush(self) -> None:
        """Make everything this object appended with ``fsync=False`` durable.

        The fsync runs without holding the log, so other threads keep appending meanwhile;
        flushes that arrive during an fsync wait for it and then need at most one more, which
        covers all of them (group commit).  A producer thread can thus hand flushes to a
        flusher thread and encode the next records while the disk works.
        """
        self._writer.flush()

    def close(self) -> None:
        """Flush what was appended with ``fsync=False`` and release file descriptors."""
        with self._mutex:
            self._segs.close()
            self._writer.close()
            self._file_lock.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
