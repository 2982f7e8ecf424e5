"""One partition's log: a directory of segments, appended to by many processes at once.

Concurrency model
-----------------
* Appends take an exclusive per-partition file lock (``<dir>/.lock``).  Under it, a writer
  first catches up with what other processes appended (new batches, new segments), truncates
  a torn tail left by a writer that was killed, then writes its batches with one ``write`` and
  one ``fsync``.  Offsets therefore stay contiguous across processes.
* Readers take no lock.  A batch is only ever appended whole, in one write; a reader that sees
  a batch whose length runs past the end of the file treats it as not yet written.  Every batch
  a reader returns has had its CRC checked.
* Retention (deleting whole closed segments) runs under the same lock.  A reader holding a
  deleted segment open keeps reading it; a reader that finds it gone sees the new
  ``log_start_offset``.

No in-memory state here is authoritative: everything can be recomputed from the files, and is,
whenever this process might be behind (``refresh``).
"""

from __future__ import annotations

import bisect
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from storage.clock import SYSTEM_CLOCK, Clock
from storage.constants import (
    BATCH_HEADER_SIZE,
    DELETED_SUFFIX,
    INDEX_SUFFIX,
    INT32_MAX,
    LOG_SUFFIX,
    PARTITION_LOCK_FILE,
    TIME_INDEX_SUFFIX,
)
from storage.errors import CorruptRecord, OffsetOutOfRange, RecordTooLarge, StorageError
from storage.records import (
    BatchHeader,
    ProducerRecord,
    Record,
    decode_batch,
    encode_batch,
    read_header,
    set_base_offset,
    set_log_append_time,
    validate_batch,
)
from storage.segment import Segment, TornTail
from storage.topic_config import TopicConfig

LOCK_TIMEOUT_S = 30.0
DEFAULT_FETCH_BYTES = 1 << 20
# Records per batch when a caller hands over records rather than encoded batches.
DEFAULT_BATCH_RECORDS = 1000


@dataclass(frozen=True)
class AppendInfo:
    """What an append assigned: offsets ``base_offset`` to ``last_offset`` inclusive."""

    base_offset: int
    last_offset: int
    log_append_time: int  # -1 unless the topic uses LogAppendTime
    log_start_offset: int

    @property
    def count(self) -> int:
        return self.last_offset - self.base_offset + 1


@dataclass(frozen=True)
class SegmentInfo:
    """One segment as ``describe`` and ``log dump`` show it."""

    base_offset: int
    next_offset: int  # one past the last offset it holds
    size_bytes: int
    largest_timestamp: int
    active: bool
    path: Path


@dataclass(frozen=True)
class DeletedSegment:
    """A segment removed by retention, and why."""

    base_offset: int
    next_offset: int
    size_bytes: int
    reason: str  # "retention.ms" or "retention.bytes"


@dataclass(frozen=True)
class RecoveryReport:
    """What ``recover`` found and repaired."""

    log_end_offset: int
    truncated_bytes: int
    rebuilt_indexes: tuple[int, ...]  # base offsets of segments whose indexes were rebuilt
    removed_files: tuple[str, ...]


@dataclass(frozen=True)
class FetchResult:
    """Raw batches read from a log, as a Fetch response carries them."""

    records: bytes
    high_watermark: int
    log_start_offset: int


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
        self._file_lock = FileLock(str(self.directory / PARTITION_LOCK_FILE), thread_local=False)
        self._segments: list[Segment] = []
        self._bases: list[int] = []
        # Where this process has scanned the active segment up to, and what it found.
        self._scanned_base = -1
        self._scanned_pos = 0
        self._next_offset = 0
        self._active_max_ts = -1
        self._write_fd: int | None = None
        self._write_fd_base = -1
        self._read_fds: dict[int, int] = {}
        self._closed_largest_ts: dict[int, int] = {}
        self._recovered = False
        self._load_segments()

    @property
    def name(self) -> str:
        return f"{self.topic}-{self.partition}"

    # -- state ----------------------------------------------------------------------------

    def _load_segments(self) -> None:
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            raise StorageError(
                f"partition directory {self.directory} is missing; the topic may have been deleted"
            ) from None
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

    def _scan_active(self, *, writer: bool) -> TornTail | None:
        """Bring this process's view of the active segment up to the end of its file."""
        if not self._segments:
            if writer:
                seg = Segment(self.directory, 0)
                seg.create()
                _fsync_dir(self.directory)
                self._load_segments()
            else:
                self._next_offset = 0
                return None
        active = self._segments[-1]
        if self._scanned_base != active.base_offset:
            entry = active.offset_index.last_entry()
            last_time = active.time_index.last_entry()
            start = 0
            if entry is not None and entry[1] < active.size():
                start = entry[1]
            self._scanned_base = active.base_offset
            self._scanned_pos = start
            self._next_offset = active.base_offset
            self._active_max_ts = last_time[0] if last_time else -1
        fd = self._read_fd(active)
        torn = None
        try:
            for item in active.iter_batches(fd, self._scanned_pos, check_crc=writer):
                if isinstance(item, TornTail):
                    torn = item
                    break
                position, header = item
                self._scanned_pos = position + header.size
                self._next_offset = header.next_offset
                if header.max_timestamp > self._active_max_ts:
                    self._active_max_ts = header.max_timestamp
        except CorruptRecord:
            if self._scanned_pos and not writer:
                raise
            if self._scanned_pos:
                # The index pointed somewhere odd: a damaged index.  Rescan from the start.
                self._scanned_base = -1
                active.offset_index.write_all([])
                return self._scan_active(writer=writer)
            raise
        if self._scanned_pos == 0 and self._next_offset < active.base_offset:
            self._next_offset = active.base_offset
        return torn

    def refresh(self) -> None:
        """Catch up with appends, rolls and deletions made by other processes."""
        with self._mutex:
            self._load_segments()
            self._scan_active(writer=False)

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
        with self._mutex:
            self.refresh()
            out = []
            for i, seg in enumerate(self._segments):
                active = i == len(self._segments) - 1
                next_offset = self._next_offset if active else self._segments[i + 1].base_offset
                out.append(
                    SegmentInfo(
                        base_offset=seg.base_offset,
                        next_offset=next_offset,
                        size_bytes=seg.size(),
                        largest_timestamp=self._largest_timestamp(seg, active),
                        active=active,
                        path=seg.log_path,
                    )
                )
            return out

    def _largest_timestamp(self, seg: Segment, active: bool) -> int:
        if active:
            return seg.largest_timestamp(self._read_fd(seg))
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

    def _lock(self) -> FileLock:
        return self._file_lock

    def _acquire(self) -> None:
        try:
            self._file_lock.acquire(timeout=LOCK_TIMEOUT_S)
        except Timeout:
            raise StorageError(
                f"partition {self.name} is locked by another process for more than "
                f"{LOCK_TIMEOUT_S:.0f} s ({self.directory / PARTITION_LOCK_FILE})"
            ) from None

    def _sync_for_write(self) -> None:
        """Under the lock: see others' appends, truncate a torn tail, recover once."""
        self._load_segments()
        if not self._recovered:
            self._cleanup_leftovers()
        torn = self._scan_active(writer=True)
        if torn is not None:
            active = self._segments[-1]
            with open(active.log_path, "r+b") as f:
                f.truncate(torn.position)
                os.fsync(f.fileno())
        if not self._recovered:
            self._repair_active_index()
            self._recovered = True

    def _cleanup_leftovers(self) -> None:
        """Files a crash can leave: indexes whose .log is gone, temp files, .deleted files."""
        bases = set(self._bases)
        for name in os.listdir(self.directory):
            path = self.directory / name
            stem, _, suffix = name.partition(".")
            if name.endswith((".tmp", DELETED_SUFFIX)):
                path.unlink(missing_ok=True)
            elif "." + suffix in (INDEX_SUFFIX, TIME_INDEX_SUFFIX) and stem.isdigit():
                if int(stem) not in bases:
                    path.unlink(missing_ok=True)

    def _repair_active_index(self) -> None:
        active = self._segments[-1]
        fd = self._read_fd(active)
        if not active.index_is_sane(fd, active.size()):
            active.rebuild_indexes(fd, self.config.index_interval_bytes)
            self._scanned_base = -1
            self._scan_active(writer=True)
            return
        # Entries a killed writer did not get to write: add them now.
        self._index_from(active, fd)

    def _index_from(self, seg: Segment, fd: int) -> None:
        entry = seg.offset_index.last_entry()
        last_pos = entry[1] if entry else 0
        last_time = seg.time_index.last_entry()
        max_ts = last_time[0] if last_time else -1
        interval = self.config.index_interval_bytes
        for item in seg.iter_batches(fd, last_pos):
            if isinstance(item, TornTail):
                break
            position, header = item
            max_ts = max(max_ts, header.max_timestamp)
            if position - last_pos > interval:
                seg.offset_index.append(header.last_offset, position)
                if last_time is None or max_ts > last_time[0]:
                    seg.time_index.append(max_ts, header.last_offset)
                    last_time = (max_ts, header.last_offset)
                last_pos = position

    def append(
        self, batches: bytes | bytearray | memoryview | Sequence, *, fsync: bool = True
    ) -> AppendInfo:
        """Append encoded RecordBatch v2 batches; return the offsets they were given.

        Each batch is validated (magic, length, CRC) and checked against max.message.bytes
        before anything is written: a bad batch rejects the whole call and changes nothing.
        The data is fsynced before this returns unless ``fsync=False``.
        """
        if isinstance(batches, (bytes, bytearray, memoryview)):
            batches = [batches]
        prepared: list[bytearray] = []
        max_bytes = self.config.max_message_bytes
        for i, batch in enumerate(batches):
            header = validate_batch(batch, where=f"batch {i} for {self.name}")
            if header.size > max_bytes:
                raise RecordTooLarge(
                    f"a batch of {header.size} bytes is larger than max.message.bytes="
                    f"{max_bytes} of topic '{self.topic}'; send smaller records or raise the "
                    f"limit with --config max.message.bytes=N"
                )
            prepared.append(bytearray(batch))
        if not prepared:
            raise StorageError("nothing to append: no batches given")
        with self._mutex:
            self._acquire()
            try:
                self._sync_for_write()
                return self._append_locked(prepared, fsync=fsync)
            finally:
                self._file_lock.release()

    def append_records(
        self,
        records: Sequence[ProducerRecord],
        *,
        fsync: bool = True,
        batch_records: int = DEFAULT_BATCH_RECORDS,
    ) -> AppendInfo:
        """Encode ``records`` into batches (CreateTime = now unless given) and append them."""
        now = self.clock.now_ms()
        batches = encode_batches(records, now, self.config.max_message_bytes, batch_records)
        return self.append(batches, fsync=fsync)

    def _append_locked(self, batches: list[bytearray], *, fsync: bool) -> AppendInfo:
        now = self.clock.now_ms()
        log_append = self.config.message_timestamp_type == "LogAppendTime"
        first_offset = self._next_offset
        pending: list[bytearray] = []
        rolled = False
        for batch in batches:
            header = read_header(batch)
            if self._should_roll(header, len(batch), pending, now):
                self._write_pending(pending, fsync=fsync)
                pending = []
                self._roll(now)
                rolled = True
            set_base_offset(batch, self._next_offset)
            if log_append:
                set_log_append_time(batch, now)
            pending.append(batch)
            self._next_offset += header.last_offset_delta + 1
        self._write_pending(pending, fsync=fsync)
        if rolled:
            self._apply_retention_locked()
        return AppendInfo(
            base_offset=first_offset,
            last_offset=self._next_offset - 1,
            log_append_time=now if log_append else -1,
            log_start_offset=self._bases[0],
        )

    def _should_roll(self, header: BatchHeader, size: int, pending: list, now: int) -> bool:
        active = self._segments[-1]
        pending_bytes = sum(len(b) for b in pending)
        current_size = self._scanned_pos + pending_bytes
        if current_size == 0:
            return False
        if current_size + size > self.config.segment_bytes:
            return True
        if self._next_offset + header.last_offset_delta - active.base_offset > INT32_MAX:
            return True
        first_ts = self._first_batch_timestamp(active)
        return first_ts >= 0 and now - first_ts > self.config.segment_ms

    def _first_batch_timestamp(self, seg: Segment) -> int:
        data = os.pread(self._read_fd(seg), BATCH_HEADER_SIZE, 0)
        if len(data) < BATCH_HEADER_SIZE:
            return -1
        return read_header(data).max_timestamp

    def _write_pending(self, pending: list[bytearray], *, fsync: bool) -> None:
        if not pending:
            return
        active = self._segments[-1]
        if self._write_fd_base != active.base_offset:
            if self._write_fd is not None:
                os.close(self._write_fd)
            self._write_fd = os.open(active.log_path, os.O_WRONLY | os.O_APPEND)
            self._write_fd_base = active.base_offset
        data = b"".join(pending)
        view = memoryview(data)
        written = 0
        while written < len(data):
            written += os.write(self._write_fd, view[written:])
        if fsync:
            os.fsync(self._write_fd)
        # Index entries, as Kafka's LogSegment.append makes them: one whenever more than
        # index.interval.bytes have been appended since the last entry.
        entry = active.offset_index.last_entry()
        last_indexed_pos = entry[1] if entry else 0
        last_time = active.time_index.last_entry()
        interval = self.config.index_interval_bytes
        position = self._scanned_pos
        for batch in pending:
            header = read_header(batch)
            if header.max_timestamp > self._active_max_ts:
                self._active_max_ts = header.max_timestamp
            if position - last_indexed_pos > interval:
                active.offset_index.append(header.last_offset, position)
                if last_time is None or self._active_max_ts > last_time[0]:
                    active.time_index.append(self._active_max_ts, header.last_offset)
                    last_time = (self._active_max_ts, header.last_offset)
                last_indexed_pos = position
            position += len(batch)
        self._scanned_pos = position

    def _roll(self, now: int) -> None:
        old = self._segments[-1]
        # Close the old segment's time index with its largest timestamp (as Kafka does on roll)
        # so retention can judge it without scanning.
        last_time = old.time_index.last_entry()
        if self._active_max_ts >= 0 and (last_time is None or self._active_max_ts > last_time[0]):
            old.time_index.append(self._active_max_ts, self._next_offset - 1)
        new = Segment(self.directory, self._next_offset)
        new.create()
        _fsync_dir(self.directory)
        self._load_segments()
        self._scanned_base = new.base_offset
        self._scanned_pos = 0
        self._active_max_ts = -1

    # -- reading --------------------------------------------------------------------------

    def _check_offset(self, offset: int) -> None:
        start = self._bases[0] if self._bases else 0
        if offset < start or offset > self._next_offset:
            raise OffsetOutOfRange(
                f"offset {offset} is out of range for {self.name}: valid offsets are "
                f"{start}..{self._next_offset} (log_start_offset..log_end_offset)",
                offset=offset,
                log_start_offset=start,
                log_end_offset=self._next_offset,
            )

    def read(self, offset: int, max_bytes: int = DEFAULT_FETCH_BYTES) -> FetchResult:
        """Whole batches starting with the one holding ``offset``, about ``max_bytes`` of them.

        At least one batch is returned even if it is larger than ``max_bytes`` (as Kafka's
        Fetch does), so a consumer always makes progress.  Empty at the log end offset.
        """
        with self._mutex:
            for _attempt in range(3):
                self.refresh()
                self._check_offset(offset)
                try:
                    data = self._read_locked(offset, max_bytes)
                except _SegmentGone:
                    continue
                return FetchResult(data, self._next_offset, self._bases[0] if self._bases else 0)
            raise StorageError(f"{self.name}: segments keep disappearing while reading")

    def _read_locked(self, offset: int, max_bytes: int) -> bytes:
        if offset >= self._next_offset:
            return b""
        i = bisect.bisect_right(self._bases, offset) - 1
        chunks: list[bytes] = []
        total = 0
        while 0 <= i < len(self._segments):
            seg = self._segments[i]
            fd = self._read_fd(seg)
            found = seg.find_batch(fd, offset)
            if found is None:
                i += 1
                if i < len(self._segments):
                    offset = self._segments[i].base_offset
                    continue
                return b"".join(chunks)
            position = found.position
            budget = max(max_bytes - total, found.header.size) if not chunks else max_bytes - total
            if budget <= 0:
                break
            data = os.pread(fd, budget, position)
            pos = 0
            end = len(data)
            while pos + BATCH_HEADER_SIZE <= end:
                header = read_header(data, pos)
                size = header.size
                if pos + size > end:
                    break
                batch = data[pos : pos + size]
                try:
                    validate_batch(batch)
                except CorruptRecord as exc:
                    raise CorruptRecord(
                        f"{seg.log_path}: corrupt batch at byte position {position + pos}: "
                        f"{str(exc).split(': ', 1)[-1]}"
                    ) from None
                chunks.append(batch)
                total += size
                pos += size
            if pos < end or total >= max_bytes:
                break
            # This segment is exhausted: continue in the next one.
            i += 1
            if i < len(self._segments):
                offset = self._segments[i].base_offset
        return b"".join(chunks)

    def read_records(
        self, offset: int, max_records: int | None = None, max_bytes: int = DEFAULT_FETCH_BYTES
    ) -> list[Record]:
        """Decoded records from ``offset`` on (at most ``max_records``); [] at the end.

        With a small ``max_records`` only the batches needed are read and decoded, so a point
        read costs one index lookup and one batch, however long the partition.
        """
        out: list[Record] = []
        want = max_bytes
        while True:
            fetch_bytes = 1 if max_records is not None and max_records - len(out) < 64 else want
            fetched = self.read(offset, fetch_bytes).records
            if not fetched:
                return out
            pos = 0
            end = len(fetched)
            while pos < end:
                header = read_header(fetched, pos)
                limit = None if max_records is None else max_records - len(out)
                out.extend(
                    decode_batch(
                        fetched[pos : pos + header.size], min_offset=offset, max_records=limit
                    )
                )
                pos += header.size
            if max_records is None:
                return out
            if len(out) >= max_records:
                return out[:max_records]
            offset = out[-1].offset + 1 if out else header.next_offset
            want = max_bytes

    def offset_for_time(self, timestamp: int) -> int | None:
        """The earliest offset whose record timestamp is >= ``timestamp`` (None: none is)."""
        with self._mutex:
            self.refresh()
            for seg in self._segments:
                active = seg is self._segments[-1]
                try:
                    if self._largest_timestamp(seg, active) < timestamp:
                        continue
                    fd = self._read_fd(seg)
                except _SegmentGone:
                    continue
                entry = seg.time_index.lookup_below(timestamp)
                start_offset = entry[1] + 1 if entry else seg.base_offset
                found = seg.find_batch(fd, start_offset)
                position = found.position if found else 0
                for item in seg.iter_batches(fd, position):
                    if isinstance(item, TornTail):
                        break
                    if item.header.max_timestamp < timestamp:
                        continue
                    batch = os.pread(fd, item.header.size, item.position)
                    for record in decode_batch(batch):
                        if record.timestamp >= timestamp:
                            return record.offset
            return None

    # -- retention ------------------------------------------------------------------------

    def apply_retention(self) -> list[DeletedSegment]:
        """Delete closed segments past retention.ms or beyond retention.bytes.

        Whole segments only, oldest first, never the active one; ``log_start_offset`` moves to
        the base offset of the first segment left.
        """
        with self._mutex:
            self._acquire()
            try:
                self._sync_for_write()
                return self._apply_retention_locked()
            finally:
                self._file_lock.release()

    def _apply_retention_locked(self) -> list[DeletedSegment]:
        deleted: list[DeletedSegment] = []
        now = self.clock.now_ms()
        retention_ms = self.config.retention_ms
        retention_bytes = self.config.retention_bytes
        closed = self._segments[:-1]
        total = sum(s.size() for s in self._segments)
        for i, seg in enumerate(closed):
            size = seg.size()
            reason = None
            if retention_ms >= 0:
                largest = self._largest_timestamp(seg, False)
                if largest >= 0 and now - largest > retention_ms:
                    reason = "retention.ms"
            if reason is None and retention_bytes >= 0 and total - size >= retention_bytes:
                reason = "retention.bytes"
            if reason is None:
                break
            next_offset = self._segments[i + 1].base_offset
            seg.delete()
            fd = self._read_fds.pop(seg.base_offset, None)
            if fd is not None:
                os.close(fd)
            self._closed_largest_ts.pop(seg.base_offset, None)
            total -= size
            deleted.append(DeletedSegment(seg.base_offset, next_offset, size, reason))
        if deleted:
            _fsync_dir(self.directory)
            self._load_segments()
        return deleted

    # -- verification ---------------------------------------------------------------------

    def recover(self) -> RecoveryReport:
        """Verify every segment, truncate a torn tail, rebuild missing or damaged indexes.

        A CRC mismatch anywhere but in an incomplete last batch raises CorruptRecord naming
        the file and byte position: it is never truncated away.
        """
        with self._mutex:
            self._acquire()
            try:
                self._load_segments()
                removed = []
                bases = set(self._bases)
                for name in sorted(os.listdir(self.directory)):
                    stem, _, suffix = name.partition(".")
                    if name.endswith((".tmp", DELETED_SUFFIX)) or (
                        "." + suffix in (INDEX_SUFFIX, TIME_INDEX_SUFFIX)
                        and stem.isdigit()
                        and int(stem) not in bases
                    ):
                        (self.directory / name).unlink(missing_ok=True)
                        removed.append(name)
                rebuilt = []
                truncated = 0
                for i, seg in enumerate(self._segments):
                    fd = self._read_fd(seg)
                    size = seg.size()
                    last = i == len(self._segments) - 1
                    sane = seg.index_is_sane(fd, size)
                    # Validate every batch; the torn tail is only allowed in the last segment.
                    valid_size = 0
                    next_offset = seg.base_offset
                    for item in seg.iter_batches(fd, 0, check_crc=True):
                        if isinstance(item, TornTail):
                            if not last:
                                raise CorruptRecord(
                                    f"{seg.log_path}: incomplete batch at byte position "
                                    f"{item.position} in a closed segment"
                                )
                            break
                        valid_size = item.position + item.header.size
                        next_offset = item.header.next_offset
                    if valid_size < size:
                        with open(seg.log_path, "r+b") as f:
                            f.truncate(valid_size)
                            os.fsync(f.fileno())
                        truncated += size - valid_size
                    if not sane or valid_size < size:
                        seg.rebuild_indexes(fd, self.config.index_interval_bytes)
                        rebuilt.append(seg.base_offset)
                    if not last and next_offset != self._segments[i + 1].base_offset:
                        raise CorruptRecord(
                            f"{seg.log_path}: ends at offset {next_offset} but the next segment "
                            f"starts at {self._segments[i + 1].base_offset}"
                        )
                self._scanned_base = -1
                self._recovered = False
                self._sync_for_write()
                return RecoveryReport(
                    log_end_offset=self._next_offset,
                    truncated_bytes=truncated,
                    rebuilt_indexes=tuple(rebuilt),
                    removed_files=tuple(removed),
                )
            finally:
                self._file_lock.release()

    def check(self) -> None:
        """Read-only verification of every batch's CRC and every index; raises on damage."""
        with self._mutex:
            self._load_segments()
            for i, seg in enumerate(self._segments):
                fd = self._read_fd(seg)
                last = i == len(self._segments) - 1
                for item in seg.iter_batches(fd, 0, check_crc=True):
                    if isinstance(item, TornTail) and not last:
                        raise CorruptRecord(
                            f"{seg.log_path}: incomplete batch at byte position {item.position}"
                        )
                if not seg.index_is_sane(fd, seg.size()):
                    raise CorruptRecord(f"{seg.offset_index.path}: index does not match the log")

    def close(self) -> None:
        with self._mutex:
            for fd in self._read_fds.values():
                os.close(fd)
            self._read_fds.clear()
            if self._write_fd is not None:
                os.close(self._write_fd)
                self._write_fd = None
                self._write_fd_base = -1

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class _SegmentGone(Exception):
    """A segment file vanished under a reader (retention in another process)."""


def encode_batches(
    records: Sequence[ProducerRecord], timestamp: int, max_batch_bytes: int, batch_records: int
) -> list[bytes]:
    """Split records into batches of at most ``batch_records`` records and about
    ``max_batch_bytes`` bytes; a single record that cannot fit is RecordTooLarge."""
    out: list[bytes] = []
    start = 0
    n = len(records)
    while start < n:
        chunk = records[start : start + batch_records]
        batch = encode_batch(chunk, timestamp=timestamp)
        while len(batch) > max_batch_bytes and len(chunk) > 1:
            chunk = chunk[: max(1, len(chunk) // 2)]
            batch = encode_batch(chunk, timestamp=timestamp)
        if len(batch) > max_batch_bytes:
            size = len(batch) - BATCH_HEADER_SIZE
            raise RecordTooLarge(
                f"a record of about {size} bytes does not fit in max.message.bytes="
                f"{max_batch_bytes}; raise it with --config max.message.bytes=N"
            )
        out.append(batch)
        start += len(chunk)
    return out


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
