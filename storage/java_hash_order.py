"""The iteration order of Java's ``HashMap<String, ?>`` and ``HashSet<TopicPartition>``.

Kafka's sticky assignors walk their members and candidate partitions in hash order, and that
order decides ties (which of several previous owners keeps an extra partition, which partition
moves back); ``storage.assignor_sticky`` replays it to give the Java client's results.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from storage.assignor_types import TP


def java_string_hash(s: str) -> int:
    """``String.hashCode()``: 31-based polynomial over UTF-16 code units, as a signed int."""
    h = 0
    data = s.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + ((data[i] << 8) | data[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def _bucket(h: int, table_size: int) -> int:
    h &= 0xFFFFFFFF
    return (h ^ (h >> 16)) & (table_size - 1)


def _table_size(entries: int) -> int:
    size = 16
    while entries > size * 3 // 4:
        size *= 2
    return size


def java_hashmap_order(keys: Iterable[str]) -> list[str]:
    """The order a ``java.util.HashMap<String, ?>`` filled with ``keys`` iterates them.

    Buckets in index order; keys sharing a bucket keep their insertion order, which for kcli's
    members is their member-id order.
    """
    ordered = sorted(keys)
    size = _table_size(len(ordered))
    return sorted(ordered, key=lambda k: _bucket(java_string_hash(k), size))


def _java_tp_hash(tp: TP) -> int:
    return (31 * (31 + tp[1]) + java_string_hash(tp[0])) & 0xFFFFFFFF


def java_hashset_first(items: Sequence[TP]) -> TP:
    size = _table_size(len(items))
    return min(items, key=lambda tp: (_bucket(_java_tp_hash(tp), size), items.index(tp)))
