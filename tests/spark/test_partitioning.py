"""The sink's Arrow murmur2 puts every key where Kafka's Java producer (and kcli) would."""

from __future__ import annotations

from tests.spark.helpers import require_spark

require_spark()

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from pyspark_kcli.partitioning import partitions_for_keys
from storage.partitioner import partition_for_key

keys = st.lists(st.one_of(st.none(), st.binary(max_size=40)), max_size=200)


@settings(max_examples=200, deadline=None)
@given(keys=keys, partitions=st.integers(min_value=1, max_value=1000), start=st.integers(0, 5))
def test_arrow_murmur2_equals_the_storage_partitioner(keys, partitions, start):
    array = pa.array(keys, pa.binary()).slice(min(start, len(keys)))  # slices keep an offset
    expected = [None if k is None else partition_for_key(k, partitions) for k in keys[start:]]
    assert partitions_for_keys(array, partitions).to_pylist() == expected


def test_strings_hash_as_their_utf8_bytes():
    words = ["alice", "bob", "Zoë", "", "store-17"]
    got = partitions_for_keys(pa.array(words, pa.string()), 6).to_pylist()
    assert got == [partition_for_key(w.encode(), 6) for w in words]
