"""What a segment's two indexes share, as Kafka's ``AbstractIndex``: a file of fixed-size
big-endian entries, each naming an offset relative to the segment's base offset, sorted so
that a lookup is a binary search of a few ``pread`` calls.  ``storage.offset_index`` and
``storage.time_index`` say what their entries mean; this module reads, appends, replaces and
sanity-checks them."""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from pathlib import Path

from storage.fileio import atomic_write


class AbstractIndex:
    """One index file of ``entry_size``-byte entries; subclasses define an entry's fields.

    An entry is handled as a pair (key, value) of absolute numbers: (offset, position) in the
    offset index, (timestamp, offset) in the time index.  ``_pack``/``_unpack`` convert one
    pair to and from its bytes.
    """

    entry: struct.Struct  # set by subclasses
    entry_size: int

    def __init__(self, path: Path, base_offset: int):
        self.path = path
        self.base_offset = base_offset
        # False once this process found the file damaged and could not rebuild it (a
        # read-only store, or a writer busy): lookups then act as if it were empty, so a
        # reader scans from the segment's start and never trusts a wrong entry.
        self.trusted = True

    def _pack(self, pair: tuple[int, int]) -> bytes:
        raise NotImplementedError

    def _unpack(self, raw: tuple[int, int]) -> tuple[int, int]:
        raise NotImplementedError

    # -- reading --------------------------------------------------------------------------

    def file_size(self) -> int | None:
        """The file's size in bytes, or None when it does not exist."""
        try:
            return os.stat(self.path).st_size
        except FileNotFoundError:
            return None

    def entries_count(self) -> int:
        return (self.file_size() or 0) // self.entry_size

    def read_entry(self, fd: int, n: int) -> tuple[int, int]:
        """Entry number ``n`` of the file open as ``fd``."""
        raw = self.entry.unpack(os.pread(fd, self.entry_size, n * self.entry_size))
        return self._unpack(raw)

    def entries(self) -> list[tuple[int, int]]:
        """Every entry (a trailing partial entry is ignored), for dumps and checks."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        usable = len(data) - len(data) % self.entry_size
        return [self._unpack(raw) for raw in self.entry.iter_unpack(data[:usable])]

    def last_entry(self) -> tuple[int, int] | None:
        if not self.trusted:
            return None
        try:
            with open(self.path, "rb") as f:
                n = os.fstat(f.fileno()).st_size // self.entry_size
                return self.read_entry(f.fileno(), n - 1) if n else None
        except FileNotFoundError:
            return None

    def _search(self, below: Callable[[tuple[int, int]], bool]) -> tuple[int, int] | None:
        """The last entry for which ``below(entry)`` holds (entries are sorted), or None."""
        if not self.trusted:
            return None
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            lo, hi = 0, os.fstat(fd).st_size // self.entry_size - 1
            found = None
            while lo <= hi:
                mid = (lo + hi) // 2
                entry = self.read_entry(fd, mid)
                if below(entry):
                    found = entry
                    lo = mid + 1
                else:
                    hi = mid - 1
            return found
        finally:
            os.close(fd)

    # -- writing --------------------------------------------------------------------------

    def append_entries(self, entries: list[tuple[int, int]]) -> None:
        """Append entries with one write."""
        if entries:
            with open(self.path, "ab") as f:
                f.write(b"".join(map(self._pack, entries)))

    def write_all(self, entries: list[tuple[int, int]]) -> None:
        """Replace the whole index atomically (recovery, a rebuild, a cleaner's new segment)."""
        atomic_write(self.path, b"".join(map(self._pack, entries)))

    def truncate_entries(self, count: int) -> None:
        with open(self.path, "r+b") as f:
            f.truncate(count * self.entry_size)

    # -- sanity ---------------------------------------------------------------------------

    def problem(self, log_size: int) -> str | None:
        """What is wrong with the file on its own, as Kafka's ``sanityCheck`` finds it: a
        missing file, a size that is not whole entries, entries out of order or outside the
        segment.  None when it is sane.  (Whether entries point at the right batches is the
        segment's question: see ``Segment.index_problem``.)"""
        size = self.file_size()
        if size is None:
            return f"{self.path.name} is missing"
        if size % self.entry_size:
            return (
                f"{self.path.name} is {size} bytes, not a whole number of "
                f"{self.entry_size}-byte entries"
            )
        return self._entries_problem(self.entries(), log_size)

    def _entries_problem(self, entries: list[tuple[int, int]], log_size: int) -> str | None:
        raise NotImplementedError
