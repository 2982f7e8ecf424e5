"""A segment's time index: ``<base offset>.timeindex``.

Entries of 12 bytes, big-endian: (timestamp i64, offset relative to the base offset u32).
An entry (T, O) says: T is the largest timestamp of any record up to offset O.  Entries are
only appended when T grows, so the file is sorted by both fields and a lookup by time is a
binary search.  The last entry also gives a closed segment's largest timestamp, which is
what ``retention.ms`` is judged by.
"""

from __future__ import annotations

import struct

from storage.constants import TIME_INDEX_ENTRY_SIZE
from storage.index import AbstractIndex


class TimeIndex(AbstractIndex):
    """(timestamp, absolute offset) entries of one ``.timeindex`` file."""

    entry = struct.Struct(">qI")
    entry_size = TIME_INDEX_ENTRY_SIZE

    def _pack(self, pair: tuple[int, int]) -> bytes:
        return self.entry.pack(pair[0], pair[1] - self.base_offset)

    def _unpack(self, raw: tuple[int, int]) -> tuple[int, int]:
        return raw[0], self.base_offset + raw[1]

    def lookup_below(self, timestamp: int) -> tuple[int, int] | None:
        """The last entry whose timestamp is below ``timestamp``, or None."""
        return self._search(lambda entry: entry[0] < timestamp)

    def _entries_problem(self, entries: list[tuple[int, int]], log_size: int) -> str | None:
        previous = (None, self.base_offset)
        for n, (timestamp, offset) in enumerate(entries):
            if (previous[0] is not None and timestamp <= previous[0]) or offset < previous[1]:
                return (
                    f"{self.path.name}: entry {n} (timestamp {timestamp}, offset {offset}) "
                    f"does not follow the entry before it (timestamp {previous[0]}, "
                    f"offset {previous[1]})"
                )
            previous = (timestamp, offset)
        return None
