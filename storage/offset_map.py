"""The cleaner's map of each key's latest offset, as Kafka's ``OffsetMap`` (SkimpyOffsetMap).

Kafka's map is a fixed buffer (``log.cleaner.dedupe.buffer.size``) of key hashes and offsets;
when the dirty section holds more keys than fit, the cleaner maps as many whole segments as
the buffer takes and cleans up to there, leaving the rest dirty for the next round.  kcli's map
is a dict from the key's bytes to its offset, so no two keys can ever collide (Kafka accepts
the tiny chance of an MD5 collision), with the same rule: a capacity in entries, derived from a
memory budget, and whole segments only.

Memory grows linearly with the number of distinct keys mapped, about
``ENTRY_OVERHEAD_BYTES`` plus the key's length per key: 10k keys of 10 bytes take about 1.5 MB.
"""

from __future__ import annotations

from collections.abc import Iterable

# What one entry costs CPython: the dict slot (key hash, key, value pointers, index bytes),
# the key's bytes object header and the int offset.  Measured with tracemalloc on 3.11-3.13.
ENTRY_OVERHEAD_BYTES = 150
# Kafka's log.cleaner.dedupe.buffer.size default.
DEFAULT_BUFFER_BYTES = 128 * 1024 * 1024


class OffsetMap:
    """Key bytes -> the largest offset seen for the key, with a capacity in entries."""

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError("an offset map needs room for at least one key")
        self.capacity = capacity
        self._offsets: dict[bytes, int] = {}

    @classmethod
    def for_memory(cls, buffer_bytes: int = DEFAULT_BUFFER_BYTES, key_bytes: int = 16):
        """A map holding as many keys of about ``key_bytes`` bytes as ``buffer_bytes`` allow."""
        return cls(max(1, buffer_bytes // (ENTRY_OVERHEAD_BYTES + key_bytes)))

    def __len__(self) -> int:
        return len(self._offsets)

    def put_all(self, keys: Iterable[bytes], offsets: Iterable[int]) -> None:
        """Record (key, offset) pairs given in increasing offset order: the last one wins."""
        self._offsets.update(zip(keys, offsets, strict=True))

    def discard(self, key) -> None:
        self._offsets.pop(key, None)

    def get(self, key: bytes, default: int = -1) -> int:
        return self._offsets.get(key, default)

    @property
    def full(self) -> bool:
        return len(self._offsets) >= self.capacity

    def would_overflow(self, extra: int) -> bool:
        """Could ``extra`` more distinct keys break the capacity?"""
        return len(self._offsets) + extra > self.capacity

    def items(self):
        return self._offsets.items()

    def lookup(self):
        """The map's bound ``get``, for the cleaner's inner loop."""
        return self._offsets.get

    def clear(self) -> None:
        self._offsets.clear()
