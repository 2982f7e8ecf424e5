"""A compacted topic through ``kcli serve``: real clients read the cleaned log's gaps, and
null values (tombstones) from wire clients stay null."""

from __future__ import annotations

import json
import subprocess

from confluent_kafka import Consumer, Producer

from storage import ProducerRecord, Store

TIMEOUT_S = 60


def _compacted_topic(data_dir, topic="profiles"):
    store = Store(data_dir)
    store.create_topic(
        topic, 1, {"cleanup.policy": "compact", "segment.bytes": "500", "retention.ms": "-1"}
    )
    log = store.log(topic, 0)
    updates = [(f"user-{i % 7}".encode(), f"profile-{i}".encode()) for i in range(200)]
    updates += [(b"user-3", None)]
    for key, value in updates:
        log.append_records([ProducerRecord(value, key=key)])
    log.append_records([ProducerRecord(b"last", key=b"user-0")])  # rolls past the tombstone
    updates.append((b"user-0", b"last"))
    store.compact_topic(topic)
    kept = [(r.offset, r.key, r.value) for r in log.read_records(0, max_records=10_000)]
    store.close()
    assert len(kept) < len(updates) and kept[-1][0] == len(updates) - 1
    return updates, kept


def test_kcat_reads_a_compacted_log(serve_factory, tmp_path):
    data_dir = tmp_path / "data"
    updates, kept = _compacted_topic(data_dir)
    server = serve_factory(data_dir=data_dir)
    result = subprocess.run(
        [
            "kcat",
            "-C",
            "-b",
            server.bootstrap,
            "-t",
            "profiles",
            "-J",
            "-e",
            "-q",
            "-o",
            "beginning",
        ],
        capture_output=True,
        check=True,
        timeout=TIMEOUT_S,
    )
    got = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [(m["offset"], m["key"].encode()) for m in got] == [(o, k) for o, k, _v in kept]
    assert [None if m["payload"] is None else m["payload"].encode() for m in got] == [
        v for _o, _k, v in kept
    ]
    # From the beginning: the latest value of every key (a table), the tombstone as null.
    table = {}
    for m in got:
        table[m["key"]] = m["payload"]
    latest = {}
    for key, value in updates:
        latest[key.decode()] = None if value is None else value.decode()
    assert table == latest
    # An offset inside a gap starts at the next record, as Kafka does.
    offsets = [o for o, _k, _v in kept]
    gap = next(o for o in range(offsets[-1]) if o not in offsets)
    result = subprocess.run(
        ["kcat", "-C", "-b", server.bootstrap, "-t", "profiles", "-p", "0", "-J", "-e", "-q"]
        + ["-o", str(gap), "-c", "1"],
        capture_output=True,
        check=True,
        timeout=TIMEOUT_S,
    )
    assert json.loads(result.stdout)["offset"] == next(o for o in offsets if o > gap)


def test_null_values_from_wire_clients_stay_null(serve_factory, tmp_path):
    data_dir = tmp_path / "data"
    Store(data_dir).create_topic("t", 1, {"cleanup.policy": "compact"})
    server = serve_factory(data_dir=data_dir)
    producer = Producer({"bootstrap.servers": server.bootstrap})
    producer.produce("t", key=b"gone", value=None)
    producer.produce("t", key=b"empty", value=b"")
    producer.flush(TIMEOUT_S)
    # Stored as a null value, not an empty one...
    stored = Store(data_dir).log("t", 0).read_records(0, max_records=10)
    assert [(r.key, r.value) for r in stored] == [(b"gone", None), (b"empty", b"")]
    # ...and fetched as one.
    consumer = Consumer(
        {"bootstrap.servers": server.bootstrap, "group.id": "g", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe(["t"])
    got = []
    while len(got) < 2:
        m = consumer.poll(TIMEOUT_S)
        assert m is not None, "no record within the timeout"
        if m.error() is None:
            got.append((m.key(), m.value()))
    consumer.close()
    assert got == [(b"gone", None), (b"empty", b"")]


def test_keyless_produce_to_a_compacted_topic_gets_invalid_record(serve_factory, tmp_path):
    data_dir = tmp_path / "data"
    Store(data_dir).create_topic("t", 1, {"cleanup.policy": "compact"})
    server = serve_factory(data_dir=data_dir)
    errors = []
    producer = Producer({"bootstrap.servers": server.bootstrap, "retries": 0})
    producer.produce("t", value=b"no key", on_delivery=lambda err, _m: errors.append(err))
    producer.flush(TIMEOUT_S)
    assert errors and errors[0] is not None
    assert errors[0].code() == 87  # INVALID_RECORD
    assert Store(data_dir).log("t", 0).log_end_offset == 0
