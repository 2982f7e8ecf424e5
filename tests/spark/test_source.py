"""Reading kcli topics with spark.read / spark.readStream: columns, offsets, data loss, errors."""

from __future__ import annotations

from tests.spark.helpers import require_spark

require_spark()

import json

import pytest

from storage import ProducerRecord

from .helpers import produce, topic_values


def read(spark, data_dir, **options):
    reader = spark.read.format("kcli")
    for name, value in options.items():
        reader = reader.option(name, value)
    return reader.load(str(data_dir))


def test_batch_read_equals_kcli_consume_json(spark, store, data_dir, kcli):
    store.create_topic("orders", 3)
    for p in range(3):
        produce(
            store,
            "orders",
            p,
            [f"order {p}-{i} ✓" for i in range(40)],
            keys=[f"store-{i % 4}" if i % 3 else None for i in range(40)],
            headers=[("source", b"till"), ("n", None)] if p == 1 else (),
        )

    rows = read(spark, data_dir, subscribe="orders", includeHeaders="true").collect()
    from_spark = sorted(
        (
            {
                "topic": r.topic,
                "partition": r.partition,
                "offset": r.offset,
                "timestamp": round(r.timestamp.timestamp() * 1000),
                "key": None if r.key is None else bytes(r.key).decode(),
                "value": bytes(r.value).decode(),
                "headers": [
                    [h.key, None if h.value is None else bytes(h.value).decode()] for h in r.headers
                ],
            }
            for r in rows
        ),
        key=lambda d: (d["partition"], d["offset"]),
    )
    assert {r.timestampType for r in rows} == {0}  # CreateTime

    consumed = kcli("consume", "orders", "-o", "json")
    assert consumed.returncode == 0, consumed.stderr
    from_cli = sorted(
        (json.loads(line) for line in consumed.stdout.splitlines()),
        key=lambda d: (d["partition"], d["offset"]),
    )
    assert len(from_spark) == 120
    assert from_spark == from_cli


def test_log_append_time_topics_report_timestamp_type_1(spark, store, data_dir):
    store.create_topic("stamped", 1, {"message.timestamp.type": "LogAppendTime"})
    info = store.log("stamped", 0).append_records(
        [ProducerRecord(b"a", timestamp=1000), ProducerRecord(b"b", timestamp=2000)]
    )
    rows = read(spark, data_dir, subscribe="stamped").collect()
    assert [r.timestampType for r in rows] == [1, 1]
    assert {round(r.timestamp.timestamp() * 1000) for r in rows} == {info.log_append_time}


def test_starting_and_ending_offsets_json(spark, store, data_dir):
    store.create_topic("events", 2)
    produce(store, "events", 0, [f"a{i}" for i in range(10)])
    produce(store, "events", 1, [f"b{i}" for i in range(10)])

    df = read(
        spark,
        data_dir,
        subscribe="events",
        startingOffsets=json.dumps({"events": {"0": 3, "1": -2}}),
        endingOffsets=json.dumps({"events": {"0": 7, "1": -1}}),
    )
    got = sorted((r.partition, r.offset, bytes(r.value).decode()) for r in df.collect())
    assert got == [(0, i, f"a{i}") for i in range(3, 7)] + [(1, i, f"b{i}") for i in range(10)]

    assigned = read(spark, data_dir, assign='{"events":[1]}', startingOffsets='{"events":{"1":8}}')
    assert [r.offset for r in assigned.collect()] == [8, 9]

    with pytest.raises(Exception, match="must give an offset for every partition read"):
        read(spark, data_dir, subscribe="events", startingOffsets='{"events":{"0":1}}').collect()


def test_fail_on_data_loss_after_retention(spark, store, data_dir, tmp_path):
    # Tiny segments, and retention.bytes that keeps only about the newest two of them.
    store.create_topic("readings", 1, {"segment.bytes": "600", "retention.bytes": "1200"})
    produce(store, "readings", 0, [f"r{i:03d}" for i in range(10)])
    store.create_topic("readings-copy", 1)
    checkpoint = tmp_path / "ckpt"

    def run(**options):
        query = (
            spark.readStream.format("kcli")
            .option("subscribe", "readings")
            .option("startingOffsets", "earliest")
            .options(**options)
            .load(str(data_dir))
            .select("value")
            .writeStream.format("kcli")
            .option("path", str(data_dir))
            .option("topic", "readings-copy")
            .option("checkpointLocation", str(checkpoint))
            .trigger(availableNow=True)
            .start()
        )
        try:
            query.awaitTermination(300)
        except Exception:
            pass
        return query

    assert run().exception() is None
    assert topic_values(store, "readings-copy")[0] == [f"r{i:03d}" for i in range(10)]

    # Many more records while the query is stopped; retention then deletes the oldest ones,
    # including records the query has not read yet.
    for i in range(10, 200, 10):
        produce(store, "readings", 0, [f"r{j:03d}" for j in range(i, i + 10)])
    store.apply_retention("readings")
    log_start = store.log("readings", 0).log_start_offset
    assert log_start > 10

    failed = run()
    assert failed.exception() is not None
    message = str(failed.exception())
    assert "DataLossError" in message and "failOnDataLoss" in message
    assert f"log_start_offset is {log_start}" in message
    assert len(topic_values(store, "readings-copy")[0]) == 10  # nothing written

    resumed = run(failOnDataLoss="false")
    assert resumed.exception() is None
    assert topic_values(store, "readings-copy")[0] == [f"r{i:03d}" for i in range(10)] + [
        f"r{i:03d}" for i in range(log_start, 200)
    ]

    # A batch read asked to start below the log start offset fails the same way.
    with pytest.raises(Exception, match="retention has deleted offsets 0"):
        read(
            spark, data_dir, subscribe="readings", startingOffsets='{"readings":{"0":0}}'
        ).collect()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "set exactly one of the options subscribe"),
        ({"subscribe": "nope"}, "topic 'nope' does not exist"),
        ({"subscribe": "t", "startingOffset": "earliest"}, "unknown option(s) for reading"),
        ({"subscribe": "t", "startingOffsets": "soon"}, "option startingOffsets must be"),
        ({"subscribe": "t", "startingOffsets": '{"t":{"0":99}}'}, "beyond its log_end_offset"),
        ({"subscribe": "t", "endingOffsets": '{"t":{"0":-2}}'}, "earliest (-2) is not allowed"),
        ({"assign": '{"t":[5]}'}, "numbered 0..0"),
    ],
)
def test_bad_options_are_clear_errors(spark, store, data_dir, options, message):
    store.create_topic("t", 1)
    produce(store, "t", 0, ["x"])
    with pytest.raises(Exception, match=None) as failure:
        read(spark, data_dir, **options).collect()
    assert message in str(failure.value)
