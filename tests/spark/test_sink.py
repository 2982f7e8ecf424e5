"""Writing to kcli topics with df.write: columns, partitioning, errors."""

from __future__ import annotations

from tests.spark.helpers import require_spark

require_spark()

import pytest

from storage.partitioner import partition_for_key


def test_write_routes_rows_like_kafka(spark, store, data_dir):
    store.create_topic("totals", 4)
    store.create_topic("audit", 2)
    rows = [(f"store-{i}", f"total {i}", None, "totals") for i in range(40)]
    rows += [(None, f"unkeyed {i}", None, "totals") for i in range(8)]
    rows += [("pinned", "to partition 1", 1, "audit")]
    df = spark.createDataFrame(rows, "key string, value string, partition int, topic string")
    df = df.selectExpr(
        "key",
        "value",
        "partition",
        "topic",
        "array(named_struct('key', 'origin', 'value', CAST('spark' AS BINARY))) AS headers",
    )
    df.write.format("kcli").mode("append").save(str(data_dir))

    by_partition = {
        p: store.log("totals", p).read_records(0) for p in range(store.topic("totals").partitions)
    }
    keyed = {r.key.decode(): p for p, records in by_partition.items() for r in records if r.key}
    # Keyed rows land where Kafka's Java producer would put them (murmur2), never hash().
    assert keyed == {f"store-{i}": partition_for_key(f"store-{i}".encode(), 4) for i in range(40)}
    unkeyed = [r.value for records in by_partition.values() for r in records if r.key is None]
    assert sorted(unkeyed) == sorted(f"unkeyed {i}".encode() for i in range(8))
    assert {len([r for r in rs if r.key is None]) for rs in by_partition.values()} == {2}
    assert all(r.headers == (("origin", b"spark"),) for rs in by_partition.values() for r in rs)
    pinned = store.log("audit", 1).read_records(0)
    assert [(r.key, r.value) for r in pinned] == [(b"pinned", b"to partition 1")]
    assert store.log("audit", 0).log_end_offset == 0


@pytest.mark.parametrize(
    ("columns", "options", "mode", "message"),
    [
        ("key string", {"topic": "out"}, "append", "a value column (string or binary) is required"),
        ("value int", {"topic": "out"}, "append", "value must be string or binary, not int"),
        ("value string", {}, "append", 'set the option "topic" or add a topic column'),
        ("value string", {"topic": "missing"}, "append", "topic 'missing' does not exist"),
        ("value string", {"topic": "out"}, "overwrite", "a topic is an append-only log"),
    ],
)
def test_bad_writes_are_clear_errors(spark, store, data_dir, columns, options, mode, message):
    store.create_topic("out", 1)
    df = spark.createDataFrame([], columns)
    with pytest.raises(Exception) as failure:
        df.write.format("kcli").options(**options).mode(mode).save(str(data_dir))
    assert message in str(failure.value)
    assert store.log("out", 0).log_end_offset == 0
