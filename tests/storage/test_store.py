"""Topics in a data directory: names, configs, create/alter/delete/list/describe, producer ids."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from storage import CONFIG_KEYS, FakeClock, ProducerRecord, Store
from storage.errors import (
    InvalidConfig,
    InvalidPartitions,
    InvalidTopicName,
    PartitionNotFound,
    TopicAlreadyExists,
    TopicNotFound,
)


def snapshot(path):
    """Every file under ``path`` with its bytes: to prove that nothing changed."""
    out = {}
    for root, _dirs, files in os.walk(path):
        for name in files:
            full = os.path.join(root, name)
            with open(full, "rb") as f:
                out[os.path.relpath(full, path)] = f.read()
    return out


def test_create_list_describe_delete(data_dir):
    store = Store(data_dir, clock=FakeClock())
    meta = store.create_topic("orders", 3, {"retention.ms": "1000"})
    assert (meta.name, meta.partitions, meta.overrides) == ("orders", 3, {"retention.ms": 1000})
    store.create_topic("audit", 1)
    assert [t.name for t in store.topics()] == ["audit", "orders"]
    for p in range(3):
        assert (data_dir / f"orders-{p}" / f"{0:020d}.log").exists()
    store.log("orders", 1).append_records([ProducerRecord(b"x" * 10)] * 5)
    d = store.describe_topic("orders")
    assert d.topic_id == meta.topic_id
    assert [
        (p.partition, p.log_start_offset, p.log_end_offset, p.segments) for p in d.partitions
    ] == [
        (0, 0, 0, 1),
        (1, 0, 5, 1),
        (2, 0, 0, 1),
    ]
    assert d.partitions[1].size_bytes == (data_dir / "orders-1" / f"{0:020d}.log").stat().st_size
    assert d.config["retention.ms"] == 1000
    assert d.config["retention.bytes"] == -1
    assert d.config["segment.bytes"] == 1073741824
    assert d.config["max.message.bytes"] == 1048588
    assert d.config["cleanup.policy"] == "delete"
    assert d.config["message.timestamp.type"] == "CreateTime"
    assert d.overrides == {"retention.ms": 1000}
    saved = json.loads((data_dir / "topics" / "orders.json").read_text())
    assert saved["partitions"] == 3 and saved["config"] == {"retention.ms": 1000}
    assert not [p for p in (data_dir / "topics").iterdir() if p.suffix != ".json"]
    store.delete_topic("orders")
    assert [t.name for t in store.topics()] == ["audit"]
    assert not any(p.name.startswith("orders-") for p in data_dir.iterdir())
    with pytest.raises(TopicNotFound, match="existing topics: audit"):
        store.topic("orders")
    # Another process sees the same topics.
    assert [t.name for t in Store(data_dir).topics()] == ["audit"]


def test_create_twice(data_dir):
    store = Store(data_dir)
    store.create_topic("t", 2)
    with pytest.raises(TopicAlreadyExists, match="already exists with 2 partition"):
        store.create_topic("t", 5)
    assert store.create_topic("t", 5, if_not_exists=True).partitions == 2


def test_alter_grows_partitions_and_changes_config(data_dir):
    store = Store(data_dir)
    store.create_topic("t", 2, {"retention.ms": "5000"})
    store.log("t", 0).append_records([ProducerRecord(b"a")])
    meta = store.alter_topic("t", partitions=4, config={"segment.bytes": "2048"})
    assert meta.partitions == 4
    assert meta.overrides == {"retention.ms": 5000, "segment.bytes": 2048}
    assert store.log("t", 3).log_end_offset == 0
    assert store.log("t", 0).log_end_offset == 1  # existing data untouched
    assert store.log("t", 0).config.segment_bytes == 2048  # a cached log follows the change
    before = snapshot(data_dir)
    with pytest.raises(InvalidPartitions, match="can only grow.*--partitions 4 or more"):
        store.alter_topic("t", partitions=3)
    with pytest.raises(InvalidConfig):
        store.alter_topic("t", partitions=6, config={"retention.ms": "soon"})
    assert snapshot(data_dir) == before


def test_validate_only_checks_like_the_real_call_and_writes_nothing(data_dir):
    store = Store(data_dir)
    store.create_topic("t", 2)
    before = snapshot(data_dir)
    preview = store.create_topic("u", 3, {"retention.ms": "5000"}, validate_only=True)
    assert (preview.name, preview.partitions, preview.overrides) == ("u", 3, {"retention.ms": 5000})
    grown = store.alter_topic(
        "t", partitions=5, config={"segment.bytes": "2048"}, validate_only=True
    )
    assert (grown.partitions, grown.overrides) == (5, {"segment.bytes": 2048})
    with pytest.raises(TopicAlreadyExists):
        store.create_topic("t", 2, validate_only=True)
    with pytest.raises(InvalidPartitions, match="can only grow"):
        store.alter_topic("t", partitions=1, validate_only=True)
    with pytest.raises(InvalidConfig):
        store.create_topic("v", 1, {"retention.ms": "soon"}, validate_only=True)
    assert snapshot(data_dir) == before
    assert not store.topic_exists("u") and store.topic("t").partitions == 2


def test_partition_numbers(data_dir):
    store = Store(data_dir)
    store.create_topic("t", 2)
    for bad in (-1, 2, 100):
        with pytest.raises(PartitionNotFound, match=r"numbered 0\.\.1"):
            store.log("t", bad)
    for bad in (0, -3, 10_001):
        with pytest.raises(InvalidPartitions):
            store.create_topic("u", bad)


@pytest.mark.parametrize(
    "config,message",
    [
        ({"retention.hours": "1"}, "unknown topic config 'retention.hours'; valid keys are: "),
        ({"retention.ms": "-2"}, "retention.ms: it must be an integer of milliseconds >= -1"),
        ({"retention.ms": "1 week"}, "invalid value '1 week' for retention.ms"),
        ({"segment.bytes": "1"}, "segment.bytes: it must be an integer of bytes from 14 to"),
        ({"segment.bytes": str(2**31)}, "from 14 to 2147483647"),
        ({"segment.ms": "0"}, "segment.ms: it must be an integer of milliseconds >= 1"),
        ({"max.message.bytes": "-1"}, "max.message.bytes: it must be an integer of bytes from 0"),
        ({"cleanup.policy": "compacted"}, "it must be delete or compact or compact,delete"),
        ({"message.timestamp.type": "Now"}, "it must be CreateTime or LogAppendTime"),
    ],
)
def test_config_errors_say_what_is_valid(data_dir, config, message):
    store = Store(data_dir)
    before = snapshot(data_dir)
    with pytest.raises(InvalidConfig) as exc:
        store.create_topic("t", 1, config)
    assert message in str(exc.value)
    if "unknown" in message:
        for key in CONFIG_KEYS:
            assert key in str(exc.value)
    assert snapshot(data_dir) == before
    assert store.topics() == []


@pytest.mark.parametrize(
    "name,message",
    [
        ("", "empty"),
        (".", "not allowed"),
        ("..", "not allowed"),
        ("../x", "contains '/'"),
        ("a/b", "contains '/'"),
        ("x" * 250, "250 characters long; the maximum is 249"),
        ("tab\there", "contains '\\t'"),
        ("café", "contains 'é'"),
        ("with space", "contains ' '"),
    ],
)
def test_topic_names_follow_kafkas_rules(data_dir, name, message):
    store = Store(data_dir)
    before = snapshot(data_dir.parent)
    with pytest.raises(InvalidTopicName) as exc:
        store.create_topic(name, 1)
    assert message in str(exc.value)
    assert "a-z A-Z 0-9 . _ -" in str(exc.value) or "reserved" in str(exc.value)
    assert snapshot(data_dir.parent) == before
    for call in (store.topic, store.delete_topic):
        with pytest.raises(InvalidTopicName):
            call(name)


@pytest.mark.parametrize("name", ["a", "x" * 249, "Orders.v2_final-1", "...", "-"])
def test_legal_topic_names(data_dir, name):
    store = Store(data_dir)
    store.create_topic(name, 2)
    assert store.topic(name).partitions == 2
    assert (data_dir / f"{name}-1").is_dir()
    assert os.path.realpath(data_dir / f"{name}-1").startswith(os.path.realpath(data_dir))


def test_next_producer_id_is_durable_and_unique_across_processes(data_dir):
    store = Store(data_dir)
    first = [store.next_producer_id() for _ in range(3)]
    assert first == [0, 1, 2]
    assert Store(data_dir).next_producer_id() == 3
    script = (
        "import sys\nfrom storage import Store\ns = Store(sys.argv[1])\n"
        "print(' '.join(str(s.next_producer_id()) for _ in range(20)))\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(data_dir)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    ids = []
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        ids += [int(x) for x in out.split()]
    assert sorted(ids) == list(range(4, 64))
    assert store.next_producer_id() == 64
