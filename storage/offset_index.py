"""A segment's sparse offset index: ``<base offset>.index``.

Entries of 8 bytes, big-endian: (offset relative to the segment's base offset u32, byte
position of a batch in the .log u32), one every ``index.interval.bytes`` of log.  As in Kafka,
the entry names the batch's *last* offset, so the entry to start from for offset X is the
last one whose offset is below X; a lookup is a binary search over the file (a few ``pread``
calls), never a scan, so its cost does not grow with the partition.
"""

from __future__ import annotations

import struct

from storage.constants import OFFSET_INDEX_ENTRY_SIZE
from storage.index import AbstractIndex


class OffsetIndex(AbstractIndex):
    """(absolute offset, position) entries of one ``.index`` file."""

    entry = struct.Struct(">II")
    entry_size = OFFSET_INDEX_ENTRY_SIZE

    def _pack(self, pair: tuple[int, int]) -> bytes:
        return self.entry.pack(pair[0] - self.base_offset, pair[1])

    def _unpack(self, raw: tuple[int, int]) -> tuple[int, int]:
        return self.base_offset + raw[0], raw[1]

    def lookup(self, offset: int) -> tuple[int, int]:
        """(offset, position) of the last entry whose offset is below ``offset``.

        Returns (base_offset, 0) when no entry qualifies: scan from the segment's start.
        """
        found = self._search(lambda entry: entry[0] < offset)
        return found if found is not None else (self.base_offset, 0)

    def _entries_problem(self, entries: list[tuple[int, int]], log_size: int) -> str | None:
        previous = (self.base_offset - 1, -1)
        for n, (offset, position) in enumerate(entries):
            if offset <= previous[0] or position <= previous[1]:
                return (
                    f"{self.path.name}: entry {n} ({offset}, position {position}) does not "
                    f"follow entry {n - 1} ({previous[0]}, position {previous[1]})"
                )
            if position >= log_size:
                return (
                    f"{self.path.name}: entry {n} points at byte position {position}, past "
                    f"the end of the segment ({log_size} bytes)"
                )
            previous = (offset, position)
        return None
