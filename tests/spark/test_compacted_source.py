"""The Spark source on a compacted topic: offset ranges over the cleaner's gaps."""

from __future__ import annotations

import json

from storage import ProducerRecord


def test_read_of_a_compacted_topic_is_the_table(spark, store, data_dir):
    store.create_topic(
        "profiles", 1, {"cleanup.policy": "compact", "segment.bytes": "300", "retention.ms": "-1"}
    )
    log = store.log("profiles", 0)
    updates = [(f"user-{i % 4}".encode(), f"v{i}".encode()) for i in range(40)]
    for key, value in updates:
        log.append_records([ProducerRecord(value, key=key)])
    store.compact_topic("profiles")
    kept = [(r.offset, r.key, r.value) for r in log.read_records(0, max_records=100)]
    assert len(kept) < len(updates)

    rows = spark.read.format("kcli").option("subscribe", "profiles").load(str(data_dir))
    got = sorted((r.offset, bytes(r.key), bytes(r.value)) for r in rows.collect())
    assert got == kept
    # An explicit range starting and ending inside gaps reads what lies between.
    offsets = [o for o, _k, _v in kept]
    gap = next(o for o in range(offsets[-1]) if o not in offsets)
    ranged = (
        spark.read.format("kcli")
        .option("subscribe", "profiles")
        .option("startingOffsets", json.dumps({"profiles": {"0": gap}}))
        .option("endingOffsets", json.dumps({"profiles": {"0": offsets[-1]}}))
        .load(str(data_dir))
    )
    assert sorted(r.offset for r in ranged.collect()) == [
        o for o in offsets if gap <= o < offsets[-1]
    ]
