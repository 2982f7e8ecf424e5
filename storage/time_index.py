"""A segment's time index: ``<base offset>.timeindex``.

Entries of 12 bytes, big-endian: (timestamp i64, offset relative to the base offset u32).
An entry (T, O) says: T is the largest timestamp of any record up to offset O.  Entries are
only appended when T grows, so the file is sorted by both fields and a lookup by time is a
binary search.  The last entry also gives a closed segment's largest timestamp, which is
what ``retention.ms`` is judged by.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from storage.constants import TIME_INDEX_ENTRY_SIZE
from storage.fileio import atomic_write

_ENTRY = struct.Struct(">qI")


class TimeIndex:
    """Read and append (timestamp, relative offset) entries of one time index file."""

    entry_size = TIME_INDEX_ENTRY_SIZE

    def __init__(self, path: Path, base_offset: int):
        self.path = path
        self.base_offset = base_offset

    def entries(self) -> list[tuple[int, int]]:
        """Every (timestamp, absolute offset) pair."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        usable = len(data) - len(data) % 12
        return [(t, self.base_offset + r) for t, r in _ENTRY.iter_unpack(data[:usable])]

    def entries_count(self) -> int:
        try:
            return os.stat(self.path).st_size // self.entry_size
        except FileNotFoundError:
            return 0

    def _entry(self, fd: int, n: int) -> tuple[int, int]:
        ts, rel = _ENTRY.unpack(os.pread(fd, 12, n * 12))
        return ts, self.base_offset + rel

    def last_entry(self) -> tuple[int, int] | None:
        try:
            with open(self.path, "rb") as f:
                n = os.fstat(f.fileno()).st_size // 12
                return self._entry(f.fileno(), n - 1) if n else None
        except FileNotFoundError:
            return None

    def lookup_below(self, timestamp: int) -> tuple[int, int] | None:
        """The last entry whose timestamp is below ``timestamp``, or None."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            lo, hi = 0, os.fstat(fd).st_size // 12 - 1
            found = None
            while lo <= hi:
                mid = (lo + hi) // 2
                entry = self._entry(fd, mid)
                if entry[0] < timestamp:
                    found = entry
                    lo = mid + 1
                else:
                    hi = mid - 1
            return found
        finally:
            os.close(fd)

    def append(self, timestamp: int, offset: int) -> None:
        with open(self.path, "ab") as f:
            f.write(_ENTRY.pack(timestamp, offset - self.base_offset))

    def append_entries(self, entries: list[tuple[int, int]]) -> None:
        """Append (timestamp, absolute offset) entries with one write."""
        if entries:
            with open(self.path, "ab") as f:
                f.write(b"".join(_ENTRY.pack(t, o - self.base_offset) for t, o in entries))

    def write_all(self, entries: list[tuple[int, int]]) -> None:
        atomic_write(self.path, b"".join(_ENTRY.pack(t, o - self.base_offset) for t, o in entries))
