"""A segment's sparse offset index: ``<base offset>.index``.

Entries of 8 bytes, big-endian: (offset relative to the segment's base offset u32, byte
position of a batch in the .log u32), one every ``index.interval.bytes`` of log.  As in Kafka,
the entry names the batch's *last* offset, so the entry to start from for offset X is the
last one whose offset is below X; a lookup is a binary search over the file (a few ``pread``
calls), never a scan, so its cost does not grow with the partition.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from storage.constants import OFFSET_INDEX_ENTRY_SIZE
from storage.fileio import atomic_write

_ENTRY = struct.Struct(">II")


class OffsetIndex:
    """Read and append (relative offset, position) entries of one index file."""

    entry_size = OFFSET_INDEX_ENTRY_SIZE

    def __init__(self, path: Path, base_offset: int):
        self.path = path
        self.base_offset = base_offset

    def entries_count(self) -> int:
        try:
            return os.stat(self.path).st_size // self.entry_size
        except FileNotFoundError:
            return 0

    def entry(self, fd: int, n: int) -> tuple[int, int]:
        rel, position = _ENTRY.unpack(os.pread(fd, 8, n * 8))
        return self.base_offset + rel, position

    def entries(self) -> list[tuple[int, int]]:
        """Every (absolute offset, position) pair, for dumps and checks."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        usable = len(data) - len(data) % 8
        return [(self.base_offset + r, p) for r, p in _ENTRY.iter_unpack(data[:usable])]

    def lookup(self, offset: int) -> tuple[int, int]:
        """(offset, position) of the last entry whose offset is below ``offset``.

        Returns (base_offset, 0) when no entry qualifies: scan from the segment's start.
        """
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return self.base_offset, 0
        try:
            n = os.fstat(fd).st_size // 8
            lo, hi = 0, n - 1
            found = (self.base_offset, 0)
            while lo <= hi:
                mid = (lo + hi) // 2
                entry_offset, position = self.entry(fd, mid)
                if entry_offset < offset:
                    found = (entry_offset, position)
                    lo = mid + 1
                else:
                    hi = mid - 1
            return found
        finally:
            os.close(fd)

    def last_entry(self) -> tuple[int, int] | None:
        try:
            with open(self.path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                n = size // 8
                if n == 0:
                    return None
                return self.entry(f.fileno(), n - 1)
        except FileNotFoundError:
            return None

    def append(self, offset: int, position: int) -> None:
        with open(self.path, "ab") as f:
            f.write(_ENTRY.pack(offset - self.base_offset, position))

    def append_entries(self, entries: list[tuple[int, int]]) -> None:
        """Append (absolute offset, position) entries with one write."""
        if entries:
            with open(self.path, "ab") as f:
                f.write(b"".join(_ENTRY.pack(o - self.base_offset, p) for o, p in entries))

    def write_all(self, entries: list[tuple[int, int]]) -> None:
        """Replace the whole index (recovery)."""
        data = b"".join(_ENTRY.pack(o - self.base_offset, p) for o, p in entries)
        atomic_write(self.path, data)

    def truncate_entries(self, count: int) -> None:
        with open(self.path, "r+b") as f:
            f.truncate(count * self.entry_size)
