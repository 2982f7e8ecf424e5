"""Structured Streaming through format("kcli"): backlog, live appends, restarts, replays."""

from __future__ import annotations

from tests.spark.helpers import require_spark

require_spark()

import subprocess
import sys
import textwrap

from .helpers import produce, topic_values, wait_for


def copy_query(spark, data_dir, source, sink, checkpoint, *, trigger, **options):
    """source → sink, keeping key, value, headers and the source partition."""
    reader = (
        spark.readStream.format("kcli")
        .option("subscribe", source)
        .option("startingOffsets", "earliest")
        .option("includeHeaders", "true")
    )
    for name, value in options.items():
        reader = reader.option(name, value)
    return (
        reader.load(str(data_dir))
        .selectExpr("key", "value", "headers", "partition")
        .writeStream.format("kcli")
        .option("topic", sink)
        .option("path", str(data_dir))
        .option("checkpointLocation", str(checkpoint))
        .trigger(**trigger)
        .start()
    )


def data_batches(query) -> list[int]:
    return [p["numInputRows"] for p in query.recentProgress if p["numInputRows"]]


def test_backlog_in_several_batches_then_restart_reads_only_new_records(
    spark, store, data_dir, tmp_path
):
    store.create_topic("orders", 3)
    store.create_topic("copy", 3)
    sent = {p: [f"p{p}-{i}" for i in range(100 + 20 * p)] for p in range(3)}
    for p, values in sent.items():
        produce(store, "orders", p, values)
    checkpoint = tmp_path / "ckpt"

    def run():
        query = copy_query(
            spark,
            data_dir,
            "orders",
            "copy",
            checkpoint,
            trigger={"availableNow": True},
            maxOffsetsPerTrigger="70",
        )
        query.awaitTermination(300)
        assert query.exception() is None
        return data_batches(query)

    sizes = run()
    assert sum(sizes) == 360
    assert len(sizes) >= 360 // 70 and max(sizes) <= 70
    assert topic_values(store, "copy") == sent  # every record once, in order

    # The checkpoint holds Kafka-shaped offsets; a restart goes on from them.
    offsets = sorted((checkpoint / "offsets").glob("[0-9]*"), key=lambda p: int(p.name))
    assert offsets[-1].read_text().splitlines()[-1] == '{"orders": {"0": 100, "1": 120, "2": 140}}'
    new = [f"p1-{i}" for i in range(120, 127)]
    produce(store, "orders", 1, new)
    sent[1] += new
    assert run() == [7]
    assert topic_values(store, "copy") == sent


def test_replayed_batch_creates_no_duplicates(spark, store, data_dir, tmp_path):
    store.create_topic("payments", 2)
    store.create_topic("payments-copy", 2)
    sent = {p: [f"pay{p}-{i}" for i in range(60)] for p in range(2)}
    for p, values in sent.items():
        produce(store, "payments", p, values, keys=[f"k{i}" for i in range(60)])
    checkpoint = tmp_path / "ckpt"

    first = copy_query(
        spark,
        data_dir,
        "payments",
        "payments-copy",
        checkpoint,
        trigger={"availableNow": True},
        maxOffsetsPerTrigger="50",
    )
    first.awaitTermination(300)
    assert topic_values(store, "payments-copy") == sent
    end_before = [store.log("payments-copy", p).log_end_offset for p in range(2)]

    # As if the driver died after the sink appended the last batch but before Spark recorded
    # that batch as done: the restarted query runs it again.
    commits = sorted((checkpoint / "commits").glob("[0-9]*"), key=lambda p: int(p.name))
    last = commits[-1]
    last.unlink()
    (checkpoint / "commits" / f".{last.name}.crc").unlink(missing_ok=True)

    replay = copy_query(
        spark,
        data_dir,
        "payments",
        "payments-copy",
        checkpoint,
        trigger={"availableNow": True},
        maxOffsetsPerTrigger="50",
    )
    replay.awaitTermination(300)
    assert replay.exception() is None
    replayed = [p for p in replay.recentProgress if p["batchId"] == int(last.name)]
    assert replayed and replayed[0]["numInputRows"] > 0  # the batch really ran again
    assert [store.log("payments-copy", p).log_end_offset for p in range(2)] == end_before
    assert topic_values(store, "payments-copy") == sent


PRODUCER = textwrap.dedent(
    """
    import sys, time
    from storage import ProducerRecord, Store

    store = Store(sys.argv[1])
    for i in range(int(sys.argv[2])):
        p = i % 2
        store.log("sensor", p).append_records([ProducerRecord(f"p{p}-{i // 2:05d}".encode())])
        if i % 10 == 0:
            time.sleep(0.04)  # about 4 s in all: several 1-second triggers
    """
)


def test_live_producer_while_processing_time_query_runs(spark, store, data_dir, tmp_path):
    store.create_topic("sensor", 2)
    store.create_topic("sensor-copy", 2)
    total = 1000
    query = copy_query(
        spark,
        data_dir,
        "sensor",
        "sensor-copy",
        tmp_path / "ckpt",
        trigger={"processingTime": "1 second"},
    )
    try:
        # The query is up (its first, idle trigger is done) before the first record is sent.
        wait_for(lambda: query.lastProgress is not None, what="the query's first trigger")
        producer = subprocess.Popen([sys.executable, "-c", PRODUCER, str(data_dir), str(total)])
        assert producer.wait(timeout=300) == 0

        def copied() -> bool:
            assert query.exception() is None
            return sum(len(v) for v in topic_values(store, "sensor-copy").values()) >= total

        wait_for(copied, what="the query to copy every record")
        # Wait for an idle trigger: every batch in flight has finished, so none can add more.
        seen = len(query.recentProgress)
        wait_for(
            lambda: any(p["numInputRows"] == 0 for p in query.recentProgress[seen:]),
            what="an idle trigger",
        )
    finally:
        query.stop()
    assert len(data_batches(query)) >= 2  # the records really arrived while the query ran
    expected = {p: [f"p{p}-{i:05d}" for i in range(total // 2)] for p in range(2)}
    assert topic_values(store, "sensor-copy") == expected  # exactly once, order per partition
