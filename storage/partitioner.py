"""Which partition a record goes to: Kafka's murmur2 for keys, round-robin for the rest."""

from __future__ import annotations

import random


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), as a signed 32-bit int."""
    length = len(data)
    m = 0x5BD1E995
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    length4 = length // 4
    for i in range(length4):
        i4 = i * 4
        k = data[i4] | (data[i4 + 1] << 8) | (data[i4 + 2] << 16) | (data[i4 + 3] << 24)
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> 24
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    rest = length % 4
    tail = length4 * 4
    if rest == 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for_key(key: bytes, num_partitions: int) -> int:
    """The partition Kafka's Java producer picks for a keyed record."""
    return (murmur2(key) & 0x7FFFFFFF) % num_partitions


class RoundRobin:
    """kcli's strategy for records without a key: one partition after the other.

    Each producer starts at a random partition (so that many one-record producers still
    spread out) and then takes the partitions in turn, one record each.  Kafka's Java
    producer instead sticks to one partition per batch (KIP-794); kcli chooses per-record
    round-robin because a learner can see it spread records at once.
    """

    def __init__(self, seed: int | None = None):
        self._next = random.Random(seed).randrange(1 << 30)

    def partition(self, num_partitions: int) -> int:
        p = self._next % num_partitions
        self._next += 1
        return p
