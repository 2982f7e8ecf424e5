"""The segments of one partition directory as this process last saw them (Kafka's
``LogSegments``), and how far the active segment holds complete batches.

No state here is authoritative: it is recomputed from the files whenever this process might
be behind.  ``load`` re-lists the directory; ``scan_active`` walks the active segment from
where this process last stopped to the end of its file.  The other parts of a ``Log`` (reader,
retention, recovery, producer-state loader) read what they need from one ``LogSegments``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import NamedTuple

from storage.constants import BATCH_HEADER_SIZE, INT32_MAX, LOG_OVERHEAD, LOG_SUFFIX
from storage.errors import CorruptRecord, StorageError
from storage.fileio import fsync_dir
from storage.log_types import SegmentInfo, _SegmentGone
from storage.record_batch import HEADER
from storage.segment import Segment, TornTail, segment_filename
from storage.segment_swap import distrust_index, pending_swaps

# How old a directory's mtime must be for its listing to be reused while the mtime stays the
# same (coarser than any file system's timestamp granularity).
_LISTING_SETTLED_NS = 2_000_000_000


class AppendMark(NamedTuple):
    """The end of a log before an append: what a failed append is rolled back to."""

    base_offset: int
    end_position: int
    log_end_offset: int
    max_timestamp: int


class LogSegments:
    """A partition directory's segments, oldest first, and the active segment's scan state:
    ``end_position`` (where its complete batches end), ``log_end_offset`` and
    ``active_max_timestamp``."""

    def __init__(self, directory: Path, name: str):
        self.directory = directory
        self._directory_name = os.fspath(directory)
        self.name = name
        self.segments: list[Segment] = []
        self.bases: list[int] = []
        self._dir_id: tuple[int, int] | None = None
        # (device, inode, mtime) of the directory when its listing can be trusted again.
        self._listed: tuple[int, int, int] | None = None
        # Where this process has scanned the active segment up to, and what it found.
        self._scanned_base = -1
        self._scan_starts_at_index = False
        self.end_position = 0
        self.log_end_offset = 0
        self.active_max_timestamp = -1
        self._read_fds: dict[int, int] = {}
        self._closed_largest_ts: dict[int, int] = {}
        self._dir_mtime = -1
        self.changes = 0  # how often the directory's files changed (see load)
        self._swapping: set[int] = set()
        self._closed_ends: dict[tuple[int, int], int] = {}
        self._active_first_ts = (-1, -1)  # (segment base offset, its first batch's timestamp)

    @property
    def active(self) -> Segment:
        return self.segments[-1]

    @property
    def log_start_offset(self) -> int:
        return self.bases[0] if self.bases else 0

    def load(self) -> bool:
        """Re-list the directory.  True when it is a new directory under the same name (the
        topic was deleted and created again): nothing known about the old one holds."""
        try:
            st = os.stat(self.directory)
            stamp = (st.st_dev, st.st_ino, st.st_mtime_ns)
            if stamp == self._listed:
                return False  # no file was created, renamed or removed since the last listing
            names = os.listdir(self.directory)
        except FileNotFoundError:
            raise StorageError(
                f"partition directory {self.directory} is missing; the topic may have been deleted"
            ) from None
        replaced = False
        dir_id = (st.st_dev, st.st_ino)
        if dir_id != self._dir_id:
            if self._dir_id is not None:
                self.forget()
                replaced = True
            self._dir_id = dir_id
        bases = sorted(
            int(n[: -len(LOG_SUFFIX)])
            for n in names
            if n.endswith(LOG_SUFFIX) and n[: -len(LOG_SUFFIX)].isdigit()
        )
        # A directory's mtime has the file system's granularity: a change in the same tick as
        # this listing would leave it unchanged.  Only a listing made well after the last
        # change is trusted to stay valid while the mtime does not move.
        if time.time_ns() - st.st_mtime_ns > _LISTING_SETTLED_NS:
            self._listed = stamp
        swapping = pending_swaps(names)
        if bases != self.bases or swapping != self._swapping:
            self.bases = bases
            self._swapping = swapping
            self.segments = [Segment(self.directory, b) for b in bases]
            for seg in self.segments:
                if seg.base_offset in swapping:
                    distrust_index(seg)
            for base in list(self._read_fds):
                if base not in bases:
                    os.close(self._read_fds.pop(base))
        if st.st_mtime_ns != self._dir_mtime:
            # Files renamed in the directory: the cleaner may have swapped in a segment under
            # the same base offset; stop reading the old one (see storage.segment_swap).
            self._dir_mtime = st.st_mtime_ns
            self.changes += 1  # point readers drop their caches (a swap keeps base offsets)
            self._forget_swapped()
        return replaced

    def _forget_swapped(self) -> None:
        for base, fd in list(self._read_fds.items()):
            try:
                current = os.stat(self.directory / segment_filename(base, LOG_SUFFIX)).st_ino
            except FileNotFoundError:
                continue
            if os.fstat(fd).st_ino != current:
                os.close(self._read_fds.pop(base))
                self._closed_largest_ts.pop(base, None)

    def listing_current(self) -> bool:
        """Is the last listing of the directory still good (no file created, renamed or
        removed since)?  One ``stat``; False whenever ``load`` would have to list again."""
        try:
            st = os.stat(self._directory_name)
        except FileNotFoundError:
            return False
        return (st.st_dev, st.st_ino, st.st_mtime_ns) == self._listed

    def forget(self) -> None:
        """Drop everything known about the files (a replaced directory, a recovery)."""
        self.close()
        self._listed = None
        self._active_first_ts = (-1, -1)
        self.bases = []
        self.segments = []
        self.rescan()
        self.log_end_offset = 0
        self.end_position = 0

    def rescan(self) -> None:
        """Scan the active segment from its start (or last index entry) next time."""
        self._scanned_base = -1
        self.active_max_timestamp = -1

    def create_first(self) -> None:
        """A writer in an empty directory: create segment 0."""
        Segment(self.directory, 0).create()
        fsync_dir(self.directory)
        self.load()

    def rolled_to(self, segment: Segment) -> None:
        """A new empty active segment was created at the log end offset."""
        self.load()
        self._scanned_base = segment.base_offset
        self._scan_starts_at_index = False
        self.end_position = 0
        self.active_max_timestamp = -1

    def appended(self, end_position: int, log_end_offset: int, max_timestamp: int) -> None:
        """This process wrote batches to the active segment."""
        self.end_position = end_position
        self.log_end_offset = log_end_offset
        self.active_max_timestamp = max_timestamp

    def should_roll(
        self,
        size: int,
        last_offset_delta: int,
        pending_bytes: int,
        next_offset: int,
        now: int,
        config,
    ) -> bool:
        """Kafka's roll rule, for a batch of ``size`` bytes after ``pending_bytes`` not yet
        written: past segment.bytes, relative offsets beyond int32, or segment.ms old."""
        active = self.active
        current_size = self.end_position + pending_bytes
        if current_size == 0:
            return False
        if current_size + size > config.segment_bytes:
            return True
        if next_offset + last_offset_delta - active.base_offset > INT32_MAX:
            return True
        first_ts = self._first_batch_timestamp(active)
        return first_ts >= 0 and now - first_ts > config.segment_ms

    def _first_batch_timestamp(self, seg: Segment) -> int:
        """What segment.ms is judged by, as in Kafka: the first batch's largest timestamp."""
        if self._active_first_ts[0] == seg.base_offset:
            return self._active_first_ts[1]
        data = os.pread(self.read_fd(seg), BATCH_HEADER_SIZE, 0)
        if len(data) < BATCH_HEADER_SIZE:
            return -1
        ts = HEADER.unpack_from(data)[8]  # maxTimestamp
        self._active_first_ts = (seg.base_offset, ts)
        return ts

    def mark(self) -> AppendMark:
        """Where the log ends now, to roll a failed append back to (``truncate_to``).  Costs
        no I/O: what to keep of the indexes is decided only if a rollback happens."""
        return AppendMark(
            self.active.base_offset,
            self.end_position,
            self.log_end_offset,
            self.active_max_timestamp,
        )

    def truncate_to(self, mark: AppendMark) -> None:
        """Put the files back as they were at ``mark``: segments created since deleted, the
        segment then active truncated to its end, index entries for what was removed
        dropped, all fsynced."""
        for seg in [s for s in self.segments if s.base_offset > mark.base_offset]:
            seg.delete()
            self.deleted(seg)
        seg = Segment(self.directory, mark.base_offset)
        with open(seg.log_path, "r+b") as f:
            f.truncate(mark.end_position)
            os.fsync(f.fileno())
        offsets = seg.offset_index.entries()
        keep = sum(1 for _offset, position in offsets if position < mark.end_position)
        seg.offset_index.truncate_entries(keep)
        times = seg.time_index.entries()
        keep = sum(1 for _ts, offset in times if offset < mark.log_end_offset)
        seg.time_index.truncate_entries(keep)
        fsync_dir(self.directory)
        self.load()
        self._active_first_ts = (-1, -1)
        self._scanned_base = mark.base_offset
        self._scan_starts_at_index = False
        self.end_position = mark.end_position
        self.log_end_offset = mark.log_end_offset
        self.active_max_timestamp = mark.max_timestamp

    # -- scanning the active segment --------------------------------------------------------

    def scan_active(self, *, writer: bool, index_interval_bytes: int) -> TornTail | None:
        """Bring this process's view of the active segment up to the end of its file.

        Returns the torn tail found at the end, if any.  A writer (holding the lock) also
        checks CRCs and judges whether an incomplete tail is really torn or corrupt.
        """
        if not self.segments:
            if not writer:
                self.log_end_offset = 0
                return None
            self.create_first()
        active = self.segments[-1]
        if self._scanned_base != active.base_offset:
            self._start_scan(active, from_index=True)
        fd = self.read_fd(active)
        try:
            torn = self._scan_from(active, fd, writer=writer)
        except CorruptRecord:
            if not self._scan_starts_at_index:
                raise
            # The index entry the scan started from was wrong: scan from the start.
            self._start_scan(active, from_index=False)
            torn = self._scan_from(active, fd, writer=writer)
            if writer:
                active.rebuild_indexes(fd, index_interval_bytes)
        self._scan_starts_at_index = False
        return torn

    def judge_torn_tail(self, torn: TornTail, file_lock) -> bool:
        """A reader that finds an incomplete batch at the end: being written, or damage?

        Only a writer killed mid-write or one writing right now leaves one.  If no writer
        holds ``file_lock`` (a non-blocking try, so no writer ever waits for a reader),
        nothing is being written and the tail is judged as a writer would judge it: a damaged
        batch length raises CorruptRecord here rather than quietly hiding the batches after
        it.  True when it was judged (and found torn).
        """
        active = self.active
        try:
            if not file_lock.try_acquire():
                return False
        except OSError:
            return False  # a read-only data directory: leave the judgement to writers
        try:
            fd = self.read_fd(active)
            size = os.fstat(fd).st_size
            if size != torn.position + torn.size:
                return False
            active.judge_tail(fd, torn.position, size)
            return True
        finally:
            file_lock.release()

    def _start_scan(self, active: Segment, *, from_index: bool) -> None:
        start = 0
        next_offset = active.base_offset
        max_ts = -1
        if from_index:
            entry = active.offset_index.last_entry()
            header = self._batch_for_entry(active, entry) if entry is not None else None
            if header is not None:
                # Scan from the indexed batch: the offsets before it are complete.
                start = entry[1]
                next_offset = header.base_offset
                last_time = active.time_index.last_entry()
                max_ts = last_time[0] if last_time else -1
        self._scanned_base = active.base_offset
        self._scan_starts_at_index = start > 0
        self.end_position = start
        self.log_end_offset = next_offset
        self.active_max_timestamp = max_ts

    def _batch_for_entry(self, seg: Segment, entry: tuple[int, int]):
        try:
            return seg.batch_for_entry(self.read_fd(seg), entry)
        except _SegmentGone:
            return None

    def _scan_from(self, active: Segment, fd: int, *, writer: bool) -> TornTail | None:
        for item in active.iter_batches(fd, self.end_position, check_crc=writer, judge_tail=writer):
            if isinstance(item, TornTail):
                return item
            position, header = item
            self.end_position = position + header.batch_length + LOG_OVERHEAD
            self.log_end_offset = header.base_offset + header.last_offset_delta + 1
            if header.max_timestamp > self.active_max_timestamp:
                self.active_max_timestamp = header.max_timestamp
        if self.log_end_offset < active.base_offset:
            self.log_end_offset = active.base_offset
        return None

    # -- files ----------------------------------------------------------------------------

    def read_fd(self, seg: Segment) -> int:
        """A read-only descriptor of the segment's .log, kept open (raises _SegmentGone)."""
        fd = self._read_fds.get(seg.base_offset)
        if fd is None:
            try:
                fd = os.open(seg.log_path, os.O_RDONLY)
            except FileNotFoundError:
                raise _SegmentGone from None
            self._read_fds[seg.base_offset] = fd
        return fd

    def deleted(self, seg: Segment) -> None:
        """Retention removed ``seg``: drop its descriptor and cached timestamp."""
        fd = self._read_fds.pop(seg.base_offset, None)
        if fd is not None:
            os.close(fd)
        self._closed_largest_ts.pop(seg.base_offset, None)

    def close(self) -> None:
        for fd in self._read_fds.values():
            os.close(fd)
        self._read_fds.clear()
        self._closed_largest_ts.clear()

    # -- what callers show ------------------------------------------------------------------

    def largest_timestamp(self, seg: Segment, active: bool) -> int:
        if active:
            return self.active_max_timestamp
        cached = self._closed_largest_ts.get(seg.base_offset)
        if cached is None:
            cached = seg.largest_timestamp(self.read_fd(seg))
            self._closed_largest_ts[seg.base_offset] = cached
        return cached

    def closed_end_offset(self, seg: Segment) -> int:
        """One past the last offset a closed segment holds (its base offset when empty),
        from its last index entry and a short scan; cached by (base offset, size)."""
        size = seg.size()
        key = (seg.base_offset, size)
        end = self._closed_ends.get(key)
        if end is None:
            fd = self.read_fd(seg)
            end = seg.base_offset
            entry = seg.offset_index.last_entry()
            start = 0
            if entry is not None and entry[1] < size:
                header = seg.batch_for_entry(fd, entry)
                if header is not None:
                    start = entry[1]
            for item in seg.iter_batches(fd, start, size):
                if isinstance(item, TornTail):
                    raise CorruptRecord(
                        f"{seg.log_path}: incomplete batch at byte position {item.position} "
                        f"in a closed segment"
                    )
                end = item.header.next_offset
            self._closed_ends[key] = end
        return end

    def sealed(self, seg: Segment, largest_timestamp: int) -> None:
        """``seg`` was closed by a roll with this largest timestamp."""
        self._closed_largest_ts[seg.base_offset] = largest_timestamp

    def info(self, i: int) -> SegmentInfo:
        seg = self.segments[i]
        active = i == len(self.segments) - 1
        next_offset = self.log_end_offset if active else self.segments[i + 1].base_offset
        return SegmentInfo(
            base_offset=seg.base_offset,
            next_offset=next_offset,
            size_bytes=self.end_position if active else seg.size(),
            largest_timestamp=self.largest_timestamp(seg, active),
            active=active,
            path=seg.log_path,
        )
