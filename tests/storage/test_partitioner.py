"""Keyed records land where Kafka's Java producer would put them; unkeyed ones spread."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.partitioner.default import murmur2 as kafka_python_murmur2

from storage.partitioner import RoundRobin, murmur2, partition_for_key


@given(st.binary(max_size=200), st.integers(1, 10_000))
@settings(max_examples=2000)
def test_partition_for_key_matches_kafka_python(key, partitions):
    # kafka-python's murmur2 returns an unsigned 32-bit value, ours Java's signed int: the
    # 0x7fffffff mask makes them comparable.
    expected = (kafka_python_murmur2(key) & 0x7FFFFFFF) % partitions
    assert partition_for_key(key, partitions) == expected
    assert murmur2(key) & 0xFFFFFFFF == kafka_python_murmur2(key) & 0xFFFFFFFF
    assert -(2**31) <= murmur2(key) < 2**31


# Kafka's own test vectors: org.apache.kafka.common.utils.UtilsTest#testMurmur2 (signed ints).
JAVA_MURMUR2 = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize("key,value", JAVA_MURMUR2.items())
def test_murmur2_java_vectors(key, value):
    assert murmur2(key) == value


# kafka-python's test_murmur2_java_compatibility: partitions out of 1000, as the Java
# producer's default partitioner chose them.
@pytest.mark.parametrize(
    "key,partition",
    [(b"", 681), (b"a", 524), (b"ab", 434), (b"abc", 107), (b"123456789", 566), (b"\x00 ", 742)],
)
def test_java_partitions_out_of_1000(key, partition):
    assert partition_for_key(key, 1000) == partition


@pytest.mark.parametrize("partitions", [1, 3, 7, 12])
def test_round_robin_spreads_evenly(partitions):
    rr = RoundRobin(seed=42)
    counts = Counter(rr.partition(partitions) for _ in range(partitions * 100))
    assert counts == {p: 100 for p in range(partitions)}


def test_round_robin_takes_partitions_in_turn_from_a_random_start():
    first = RoundRobin(seed=1)
    sequence = [first.partition(5) for _ in range(10)]
    assert all((b - a) % 5 == 1 for a, b in zip(sequence, sequence[1:], strict=False))
    starts = {RoundRobin().partition(8) for _ in range(200)}
    assert len(starts) > 1  # not every producer starts at partition 0
