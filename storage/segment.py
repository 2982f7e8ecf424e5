"""One log segment: ``<base offset>.log`` and its ``.index`` and ``.timeindex``.

A segment appends batches and decides their index entries (as Kafka's ``LogSegment`` does:
``IndexPolicy`` is the one home of that rule, used by appends and rebuilds alike), finds the
batch holding an offset (index lookup, then a short scan of batch headers), walks whole
batches from a byte position, and checks its indexes.  It keeps no
state that another process could make stale: sizes and entries are read from the files.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

from storage.constants import (
    BATCH_HEADER_SIZE,
    FILENAME_DIGITS,
    INDEX_SUFFIX,
    LOG_OVERHEAD,
    LOG_SUFFIX,
    MAGIC,
    TIME_INDEX_SUFFIX,
)
from storage.errors import CorruptRecord
from storage.fileio import fsync_file, writev_all
from storage.offset_index import OffsetIndex
from storage.records import HEADER, BatchHeader, compute_crc
from storage.time_index import TimeIndex

_SCAN_CHUNK = 1 << 16
# A lookup scans from an index entry: about index.interval.bytes (4096) and one batch.
LOOKUP_CHUNK = 1 << 13
_JUDGE_WINDOW = 16 << 20
MAGIC_BYTE = bytes([MAGIC])
_INT32 = struct.Struct(">i")
_UINT32 = struct.Struct(">I")
_BASE_OFFSET = struct.Struct(">q")


def _all_zero(fd: int, pos: int, file_size: int) -> bool:
    while pos < file_size:
        data = os.pread(fd, min(1 << 20, file_size - pos), pos)
        if not data or data.count(0) != len(data):
            return False
        pos += len(data)
    return True


def segment_filename(base_offset: int, suffix: str) -> str:
    """``00000000000000004096.log`` for base offset 4096."""
    return f"{base_offset:0{FILENAME_DIGITS}d}{suffix}"


class BatchPosition(NamedTuple):
    """Where a batch lies in a segment file, with its parsed header."""

    position: int
    header: BatchHeader


class TornTail(NamedTuple):
    """An incomplete batch at the end of a segment: what a killed writer leaves behind."""

    position: int
    size: int


class Segment:
    """A .log file with its offset and time indexes."""

    def __init__(self, directory: Path, base_offset: int, *, suffix: str = ""):
        """``suffix`` names a segment being written beside the log (e.g. ".cleaned", as
        Kafka's cleaner writes one before swapping it in): readers list only ``.log`` files."""
        self.directory = directory
        self.base_offset = base_offset
        self.suffix = suffix
        self.log_path = directory / (segment_filename(base_offset, LOG_SUFFIX) + suffix)
        self.offset_index = OffsetIndex(
            directory / (segment_filename(base_offset, INDEX_SUFFIX) + suffix), base_offset
        )
        self.time_index = TimeIndex(
            directory / (segment_filename(base_offset, TIME_INDEX_SUFFIX) + suffix), base_offset
        )

    def __repr__(self) -> str:
        return f"Segment({self.log_path})"

    def size(self) -> int:
        try:
            return os.stat(self.log_path).st_size
        except FileNotFoundError:
            return 0

    def create(self) -> None:
        """Create the three empty files (the .log last-but-not-least: it is what makes the
        segment exist for readers)."""
        for path in (self.offset_index.path, self.time_index.path):
            path.touch()
        fd = os.open(self.log_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        os.close(fd)

    def delete(self) -> None:
        """Remove the segment: the .log first, so a crash half-way leaves no readable ghost."""
        for path in (self.log_path, self.offset_index.path, self.time_index.path):
            try:
                path.unlink()
            except FileNotFoundError:
                pass

    # -- reading -----------------------------------------------------------------------

    def iter_batches(
        self,
        fd: int,
        start: int = 0,
        end: int | None = None,
        *,
        check_crc: bool = False,
        judge_tail: bool = False,
        chunk: int = _SCAN_CHUNK,
    ) -> Iterator[BatchPosition | TornTail]:
        """Walk batch headers from byte ``start`` to ``end`` (default: end of file).

        Yields a BatchPosition per complete batch and, last, a TornTail if the file ends in the
        middle of one.  Raises CorruptRecord (naming file and position) for a batch whose
        header is impossible or, with ``check_crc``, whose CRC does not match.

        A reader cannot tell a torn tail from a batch still being written, so by default any
        batch running past the end is a TornTail.  With ``judge_tail`` (callers holding the
        partition lock, when nothing can be half-written) a batch that runs past the end is a
        torn tail only if it really is the unfinished last write: see ``judge_tail``.
        """
        file_size = os.fstat(fd).st_size if end is None else end
        pos = start
        buf = b""
        buf_start = pos
        read_size = chunk
        while pos < file_size:
            rel = pos - buf_start
            if len(buf) - rel < BATCH_HEADER_SIZE:
                buf = os.pread(fd, min(max(read_size, BATCH_HEADER_SIZE), file_size - pos), pos)
                buf_start = pos
                rel = 0
            if len(buf) - rel < BATCH_HEADER_SIZE:
                if judge_tail:
                    self.judge_tail(fd, pos, file_size)
                yield TornTail(pos, file_size - pos)
                return
            header = BatchHeader._make(HEADER.unpack_from(buf, rel))
            size = header.batch_length + LOG_OVERHEAD
            if header.magic != MAGIC or size < BATCH_HEADER_SIZE or header.last_offset_delta < 0:
                if header.magic == MAGIC and size >= BATCH_HEADER_SIZE and pos + size > file_size:
                    if judge_tail:
                        self.judge_tail(fd, pos, file_size)
                    yield TornTail(pos, file_size - pos)
                    return
                if judge_tail and _all_zero(fd, pos, file_size):
                    # What a machine crash can leave after the last write: the file was
                    # extended but the data never reached the disk.
                    yield TornTail(pos, file_size - pos)
                    return
                raise CorruptRecord(
                    f"{self.log_path}: no valid batch header at byte position {pos} "
                    f"(magic {header.magic}, batchLength {header.batch_length})"
                )
            if pos + size > file_size:
                if judge_tail:
                    self.judge_tail(fd, pos, file_size)
                yield TornTail(pos, file_size - pos)
                return
            if check_crc:
                if rel + size <= len(buf):
                    batch = memoryview(buf)[rel : rel + size]
                else:
                    # Read the next header along with this batch.
                    buf = os.pread(fd, size + BATCH_HEADER_SIZE, pos)
                    buf_start = pos
                    batch = memoryview(buf)[:size]
                if compute_crc(batch) != header.crc:
                    raise CorruptRecord(
                        f"{self.log_path}: CRC-32C mismatch in the batch at byte position {pos} "
                        f"(offsets {header.base_offset}..{header.last_offset})"
                    )
            # Large batches: read only the next header instead of a chunk that is mostly data.
            read_size = BATCH_HEADER_SIZE if size > chunk // 2 else chunk
            yield BatchPosition(pos, header)
            pos += size

    def judge_tail(self, fd: int, pos: int, file_size: int) -> None:
        """Raise CorruptRecord unless the bytes from ``pos`` can be an unfinished last write.

        A killed writer leaves a prefix of what it was writing, which holds no complete batch
        ending at the end of the file.  A batch header damaged in the middle of a segment (a
        length that now points past the end) is followed by the real batches, the last of
        which ends exactly at the end of the file: finding such a batch proves corruption, and
        truncating there would silently drop records that were acknowledged.
        """
        if file_size - pos <= _JUDGE_WINDOW and file_size - pos >= BATCH_HEADER_SIZE:
            whole = os.pread(fd, file_size - pos, pos)
            if compute_crc(whole) == _UINT32.unpack_from(whole, 17)[0]:
                raise CorruptRecord(
                    f"{self.log_path}: damaged batchLength in the batch at byte position {pos}: "
                    f"it runs past the end of the file, yet the bytes up to the end are a "
                    f"complete batch with a valid CRC"
                )
        window = _JUDGE_WINDOW
        start = pos
        while start < file_size:
            data = os.pread(fd, min(window + BATCH_HEADER_SIZE, file_size - start), start)
            i = data.find(MAGIC_BYTE, 16)
            while 0 <= i - 16 < window and i - 16 + 12 <= len(data):
                p = start + i - 16
                (length,) = _INT32.unpack_from(data, i - 16 + 8)
                if (
                    length + LOG_OVERHEAD == file_size - p
                    and length + LOG_OVERHEAD >= BATCH_HEADER_SIZE
                ):
                    batch = os.pread(fd, file_size - p, p)
                    if compute_crc(batch) == _UINT32.unpack_from(batch, 17)[0]:
                        raise CorruptRecord(
                            f"{self.log_path}: damaged batch header at byte position {pos}: "
                            f"its length runs past the end of the file, but a valid batch "
                            f"ends the file from byte position {p}"
                        )
                i = data.find(MAGIC_BYTE, i + 1)
            start += window

    def find_batch(self, fd: int, offset: int, end: int | None = None) -> BatchPosition | None:
        """The batch holding ``offset`` (or the first batch after it), or None at the end.

        Index lookup, then a scan of headers from there.  An index entry that does not point at
        a sensible batch (a damaged index) is ignored and the scan starts at the beginning.
        With ``end``, the caller knows every batch before it is complete: a batch claiming
        to run past it is corrupt, not "not written yet".
        """
        _entry_offset, position = self.offset_index.lookup(offset)
        if position:
            header_bytes = os.pread(fd, BATCH_HEADER_SIZE, position)
            if len(header_bytes) < BATCH_HEADER_SIZE or header_bytes[16] != MAGIC:
                position = 0
            else:
                header = BatchHeader._make(HEADER.unpack(header_bytes))
                if header.base_offset > offset:
                    position = 0
        for item in self.iter_batches(fd, position, chunk=LOOKUP_CHUNK):
            if isinstance(item, TornTail):
                if end is not None and item.position < end:
                    raise CorruptRecord(
                        f"{self.log_path}: the batch at byte position {item.position} claims "
                        f"to run past the end of the complete batches ({end})"
                    )
                return None
            if end is not None and item.position >= end:
                return None
            if item.header.base_offset + item.header.last_offset_delta >= offset:
                return item
        return None

    def largest_timestamp(self, fd: int) -> int:
        """The largest record timestamp in the segment (-1 if empty)."""
        best = -1
        last_time = self.time_index.last_entry()
        if last_time is not None:
            best = last_time[0]
        last_entry = self.offset_index.last_entry()
        start = last_entry[1] if last_entry else 0
        try:
            for item in self.iter_batches(fd, start):
                if isinstance(item, BatchPosition) and item.header.max_timestamp > best:
                    best = item.header.max_timestamp
        except CorruptRecord:
            # A damaged index position: fall back to a full header scan.
            for item in self.iter_batches(fd, 0):
                if isinstance(item, BatchPosition) and item.header.max_timestamp > best:
                    best = item.header.max_timestamp
        return best

    # -- appending ---------------------------------------------------------------------

    def append(
        self,
        fd: int,
        position: int,
        batches: Sequence[AppendBatch],
        *,
        max_timestamp: int,
        index_interval_bytes: int,
    ) -> tuple[int, int]:
        """Write ``batches`` at the end of the .log (open for appending as ``fd``, whose
        complete batches end at ``position``), then index them.

        Each batch's offset goes in as a separate 8-byte piece of one ``writev``, so the
        callers' bytes are never copied.  ``max_timestamp`` is the largest timestamp in the
        segment so far.  Returns (the new end position, the new largest timestamp).  The
        caller fsyncs: durability is the log's decision, as in Kafka's LogSegment.
        """
        iov: list = []
        for b in batches:
            iov.append(_BASE_OFFSET.pack(b.offset))
            iov.append(memoryview(b.data)[8:])
        writev_all(fd, iov)
        policy = self._index_policy(index_interval_bytes, max_timestamp)
        for b in batches:
            policy.add(position, b.last_offset, b.max_timestamp)
            position += len(b.data)
        policy.append_to(self)
        return position, policy.max_timestamp

    def _index_policy(self, index_interval_bytes: int, max_timestamp: int) -> IndexPolicy:
        """The policy, continuing from this segment's last index entries."""
        entry = self.offset_index.last_entry()
        return IndexPolicy(
            index_interval_bytes,
            last_indexed_position=entry[1] if entry else 0,
            last_time_entry=self.time_index.last_entry(),
            max_timestamp=max_timestamp,
        )

    def seal(self, largest_timestamp: int, last_offset: int) -> None:
        """The segment is closed for good (the log rolled): end its time index with its
        largest timestamp, as Kafka does on roll, so retention can judge it without a scan,
        and make both indexes durable."""
        last_time = self.time_index.last_entry()
        if largest_timestamp >= 0 and (last_time is None or largest_timestamp > last_time[0]):
            self.time_index.append_entries([(largest_timestamp, last_offset)])
        for path in (self.offset_index.path, self.time_index.path):
            fsync_file(path)

    # -- recovery ----------------------------------------------------------------------

    def rebuild_indexes(
        self, fd: int, index_interval_bytes: int, *, closed: bool = False
    ) -> tuple[int, int]:
        """Rewrite both indexes from the .log, validating every batch's CRC.

        The entries are exactly those appends make (the same ``IndexPolicy``); a ``closed``
        segment's time index also ends with its largest timestamp, as ``seal`` writes it.
        Returns (next offset, valid size in bytes); a torn tail is left for the caller.
        """
        policy = IndexPolicy(index_interval_bytes)
        next_offset = self.base_offset
        valid_size = 0
        for item in self.iter_batches(fd, 0, check_crc=True):
            if isinstance(item, TornTail):
                break
            position, header = item
            policy.add(position, header.last_offset, header.max_timestamp)
            next_offset = header.next_offset
            valid_size = position + header.size
        if closed:
            policy.seal(next_offset - 1)
        self.offset_index.write_all(policy.offset_entries)
        self.time_index.write_all(policy.time_entries)
        return next_offset, valid_size

    def index_from(self, fd: int, index_interval_bytes: int, end: int | None = None) -> None:
        """Add the entries appends would have made for batches after the last entry (a
        writer killed between its write and its index entries leaves them out)."""
        policy = self._index_policy(index_interval_bytes, -1)
        last_time = policy.last_time_entry
        policy.max_timestamp = last_time[0] if last_time else -1
        for item in self.iter_batches(fd, policy.last_indexed_position, end):
            if isinstance(item, TornTail):
                break
            policy.add(item.position, item.header.last_offset, item.header.max_timestamp)
        policy.append_to(self)

    def batch_for_entry(self, fd: int, entry: tuple[int, int]) -> BatchHeader | None:
        """The header of the batch an offset index entry (offset, position) points at, if
        that batch holds the entry's offset; None for an entry that is wrong."""
        offset, position = entry
        header_bytes = os.pread(fd, BATCH_HEADER_SIZE, position)
        if len(header_bytes) < BATCH_HEADER_SIZE or header_bytes[16] != MAGIC:
            return None
        header = BatchHeader._make(HEADER.unpack(header_bytes))
        return header if header.base_offset <= offset <= header.last_offset else None

    def entry_points_at_batch(self, fd: int, entry: tuple[int, int]) -> bool:
        """Does the offset index entry (offset, position) point at a batch holding its offset?"""
        return self.batch_for_entry(fd, entry) is not None

    def index_tail_problem(self, fd: int, log_size: int) -> str | None:
        """A quick check of what a killed writer or a torn tail can leave wrong: file sizes
        and the last entries.  Costs a few reads however long the segment, so every process
        runs it before its first append; ``index_problem`` checks every entry."""
        for index in (self.offset_index, self.time_index):
            size = index.file_size()
            if size is None:
                return f"{index.path.name} is missing"
            if size % index.entry_size:
                return f"{index.path.name} is not a whole number of entries"
        entries = self.offset_index.entries_count()
        if entries:
            ifd = os.open(self.offset_index.path, os.O_RDONLY)
            try:
                last = self.offset_index.read_entry(ifd, entries - 1)
                before = self.offset_index.read_entry(ifd, entries - 2) if entries > 1 else None
            finally:
                os.close(ifd)
            if before is not None and not (before[0] < last[0] and before[1] < last[1]):
                return f"{self.offset_index.path.name}: its last entries are out of order"
            if last[1] >= log_size or not self.entry_points_at_batch(fd, last):
                return (
                    f"{self.offset_index.path.name}: its last entry (offset {last[0]}, "
                    f"position {last[1]}) does not point at the batch holding that offset"
                )
        last_time = self.time_index.last_entry()
        if last_time is not None and last_time[1] < self.base_offset:
            return f"{self.time_index.path.name}: its last entry is before the segment"
        return None

    def index_problem(
        self,
        fd: int,
        log_size: int,
        next_offset: int | None = None,
        *,
        every_entry: bool = True,
    ) -> str | None:
        """What is wrong with either index, as Kafka's sanity check on open finds it (entries
        in order and within the segment), and whether offset index entries point at the
        batch holding their offset (every one, or with ``every_entry=False`` the last one
        only: what a process checks on open).  ``next_offset`` (one past the segment's last
        offset) also bounds the time index's offsets.  None when both are sane."""
        for index in (self.offset_index, self.time_index):
            problem = index.problem(log_size)
            if problem is not None:
                return problem
        entries = self.offset_index.entries()
        for entry in entries if every_entry else entries[-1:]:
            if not self.entry_points_at_batch(fd, entry):
                return (
                    f"{self.offset_index.path.name}: the entry (offset {entry[0]}, position "
                    f"{entry[1]}) does not point at the batch holding that offset"
                )
        if next_offset is not None:
            for timestamp, offset in self.time_index.entries():
                if offset >= next_offset:
                    return (
                        f"{self.time_index.path.name}: the entry (timestamp {timestamp}, "
                        f"offset {offset}) is past the segment's last offset {next_offset - 1}"
                    )
        return None


class AppendBatch(NamedTuple):
    """A batch to write: the offset it is given, its last offset, its largest timestamp, and
    its bytes (the first 8, baseOffset, are replaced by ``offset`` as they are written)."""

    offset: int
    last_offset: int
    max_timestamp: int
    data: bytes | bytearray | memoryview


class IndexPolicy:
    """When a batch gets index entries, as Kafka's ``LogSegment.append`` decides: an offset
    index entry (the batch's last offset, its position) whenever more than
    ``index.interval.bytes`` were appended since the last entry, with a time index entry
    beside it when the largest timestamp so far has grown.

    Appends, catch-up after a killed writer, and rebuilds all go through this one class, so a
    rebuilt index is byte for byte what the appends wrote.
    """

    __slots__ = (
        "interval",
        "last_indexed_position",
        "last_time_entry",
        "max_timestamp",
        "offset_entries",
        "time_entries",
    )

    def __init__(
        self,
        index_interval_bytes: int,
        *,
        last_indexed_position: int = 0,
        last_time_entry: tuple[int, int] | None = None,
        max_timestamp: int = -1,
    ):
        self.interval = index_interval_bytes
        self.last_indexed_position = last_indexed_position
        self.last_time_entry = last_time_entry
        self.max_timestamp = max_timestamp
        self.offset_entries: list[tuple[int, int]] = []
        self.time_entries: list[tuple[int, int]] = []

    def add(self, position: int, last_offset: int, max_timestamp: int) -> None:
        """One batch, starting at ``position``, was appended."""
        if max_timestamp > self.max_timestamp:
            self.max_timestamp = max_timestamp
        if position - self.last_indexed_position > self.interval:
            self.offset_entries.append((last_offset, position))
            last_time = self.last_time_entry
            if last_time is None or self.max_timestamp > last_time[0]:
                self.last_time_entry = (self.max_timestamp, last_offset)
                self.time_entries.append(self.last_time_entry)
            self.last_indexed_position = position

    def seal(self, last_offset: int) -> None:
        """The closing time entry a roll writes (see ``Segment.seal``)."""
        last_time = self.last_time_entry
        if self.max_timestamp >= 0 and (last_time is None or self.max_timestamp > last_time[0]):
            self.last_time_entry = (self.max_timestamp, last_offset)
            self.time_entries.append(self.last_time_entry)

    def append_to(self, segment: Segment) -> None:
        segment.offset_index.append_entries(self.offset_entries)
        segment.time_index.append_entries(self.time_entries)
        self.offset_entries = []
        self.time_entries = []
