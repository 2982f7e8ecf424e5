"""One log segment: ``<base offset>.log`` and its ``.index`` and ``.timeindex``.

A segment knows how to find the batch holding an offset (index lookup, then a short scan of
batch headers), read whole batches from a byte position, and verify itself.  It keeps no
state that another process could make stale: sizes and entries are read from the files.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
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
from storage.offset_index import OffsetIndex
from storage.records import HEADER, BatchHeader, compute_crc
from storage.time_index import TimeIndex

_SCAN_CHUNK = 1 << 16


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

    def __init__(self, directory: Path, base_offset: int):
        self.directory = directory
        self.base_offset = base_offset
        self.log_path = directory / segment_filename(base_offset, LOG_SUFFIX)
        self.offset_index = OffsetIndex(
            directory / segment_filename(base_offset, INDEX_SUFFIX), base_offset
        )
        self.time_index = TimeIndex(
            directory / segment_filename(base_offset, TIME_INDEX_SUFFIX), base_offset
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
        self, fd: int, start: int = 0, end: int | None = None, *, check_crc: bool = False
    ) -> Iterator[BatchPosition | TornTail]:
        """Walk batch headers from byte ``start`` to ``end`` (default: end of file).

        Yields a BatchPosition per complete batch and, last, a TornTail if the file ends in the
        middle of one.  Raises CorruptRecord (naming file and position) for a batch whose
        header is impossible or, with ``check_crc``, whose CRC does not match.
        """
        file_size = os.fstat(fd).st_size if end is None else end
        pos = start
        buf = b""
        buf_start = pos
        while pos < file_size:
            rel = pos - buf_start
            if len(buf) - rel < BATCH_HEADER_SIZE:
                buf = os.pread(fd, max(_SCAN_CHUNK, BATCH_HEADER_SIZE), pos)
                buf_start = pos
                rel = 0
            if len(buf) - rel < BATCH_HEADER_SIZE:
                yield TornTail(pos, file_size - pos)
                return
            header = BatchHeader._make(HEADER.unpack_from(buf, rel))
            size = header.batch_length + LOG_OVERHEAD
            if header.magic != MAGIC or size < BATCH_HEADER_SIZE or header.last_offset_delta < 0:
                if pos + size > file_size and header.magic == MAGIC:
                    yield TornTail(pos, file_size - pos)
                    return
                raise CorruptRecord(
                    f"{self.log_path}: no valid batch header at byte position {pos} "
                    f"(magic {header.magic}, batchLength {header.batch_length})"
                )
            if pos + size > file_size:
                yield TornTail(pos, file_size - pos)
                return
            if check_crc:
                if rel + size <= len(buf):
                    batch = memoryview(buf)[rel : rel + size]
                else:
                    batch = os.pread(fd, size, pos)
                if compute_crc(batch) != header.crc:
                    raise CorruptRecord(
                        f"{self.log_path}: CRC-32C mismatch in the batch at byte position {pos} "
                        f"(offsets {header.base_offset}..{header.last_offset})"
                    )
            yield BatchPosition(pos, header)
            pos += size

    def find_batch(self, fd: int, offset: int) -> BatchPosition | None:
        """The batch holding ``offset`` (or the first batch after it), or None at the end.

        Index lookup, then a scan of headers from there.  An index entry that does not point at
        a sensible batch (a damaged index) is ignored and the scan starts at the beginning.
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
        for item in self.iter_batches(fd, position):
            if isinstance(item, TornTail):
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

    # -- recovery ----------------------------------------------------------------------

    def rebuild_indexes(self, fd: int, index_interval_bytes: int) -> tuple[int, int]:
        """Rewrite both indexes from the .log, validating every batch.

        Returns (next offset, valid size in bytes); a torn tail is left for the caller.
        """
        offset_entries: list[tuple[int, int]] = []
        time_entries: list[tuple[int, int]] = []
        next_offset = self.base_offset
        valid_size = 0
        max_ts = -1
        last_indexed_pos = 0
        for item in self.iter_batches(fd, 0, check_crc=True):
            if isinstance(item, TornTail):
                break
            position, header = item
            if header.max_timestamp > max_ts:
                max_ts = header.max_timestamp
            if position - last_indexed_pos > index_interval_bytes:
                offset_entries.append((header.last_offset, position))
                if not time_entries or max_ts > time_entries[-1][0]:
                    time_entries.append((max_ts, header.last_offset))
                last_indexed_pos = position
            next_offset = header.next_offset
            valid_size = position + header.size
        self.offset_index.write_all(offset_entries)
        self.time_index.write_all(time_entries)
        return next_offset, valid_size

    def index_is_sane(self, fd: int, log_size: int) -> bool:
        """Every offset index entry points at a batch holding its offset, in order."""
        previous = (-1, -1)
        for offset, position in self.offset_index.entries():
            if offset <= previous[0] or position <= previous[1] or position >= log_size:
                return False
            header_bytes = os.pread(fd, BATCH_HEADER_SIZE, position)
            if len(header_bytes) < BATCH_HEADER_SIZE or header_bytes[16] != MAGIC:
                return False
            header = BatchHeader._make(HEADER.unpack(header_bytes))
            if not header.base_offset <= offset <= header.last_offset:
                return False
            previous = (offset, position)
        if os.path.exists(self.offset_index.path) and (
            os.stat(self.offset_index.path).st_size % self.offset_index.entry_size
        ):
            return False
        if not os.path.exists(self.time_index.path) or (
            os.stat(self.time_index.path).st_size % self.time_index.entry_size
        ):
            return False
        last_ts = None
        for ts, offset in self.time_index.entries():
            if last_ts is not None and ts <= last_ts:
                return False
            last_ts = ts
            if offset < self.base_offset:
                return False
        return os.path.exists(self.offset_index.path)
