"""The backend interface, run the same way against the local store and a Kafka cluster
(`kcli serve` through confluent-kafka): same results, same errors, same words."""

from __future__ import annotations

import socket
import sys
import time

import pytest
from kafka.partitioner.default import murmur2 as kafka_python_murmur2

import storage.errors as base
from kcli.client.types import OFFSET_BEGINNING, KafkaError, KafkaException, TopicPartition
from kcli.connection import Connection
from kcli.errors import KcliError
from kcli.local.backend import LocalBackend
from kcli.local.consumer import OFFSET_TAIL
from kcli.remote.backend import INSTALL_HINT, RemoteBackend
from storage import (
    CONFIG_KEYS,
    InvalidConfig,
    InvalidPartitions,
    InvalidTopicName,
    TopicAlreadyExists,
    TopicNotFound,
)
from storage import group_types as group_messages
from storage.groups import GroupNotEmpty, GroupNotFound, ResetSpec

WAIT_S = 60.0
SECRET = "s3cr3t-V4LUE-91"
RECENT_MS = int(time.time() * 1000) - 3_600_000


@pytest.fixture(params=["local", "remote"])
def backend(request, tmp_path):
    if request.param == "local":
        b = LocalBackend(tmp_path / "data")
    else:
        cluster = request.getfixturevalue("cluster")
        b = RemoteBackend(Connection(cluster.bootstrap), timeout_s=WAIT_S)
    yield b
    b.close()


def read_all(backend, topic: str, partitions: int, **conf) -> list[tuple]:
    """Every record of a topic as (partition, offset, timestamp, key, value, headers)."""
    consumer = backend.consumer({"enable.partition.eof": True, **conf})
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    out, at_end = [], set()
    deadline = time.monotonic() + WAIT_S
    try:
        while at_end != set(range(partitions)):
            assert time.monotonic() < deadline, f"only reached the end of {sorted(at_end)}"
            for item in consumer.consume_records(10_000, timeout=0.2):
                if item.__class__ is tuple:
                    _topic, partition, records = item
                    at_end.discard(partition)
                    out += [(partition, *r[:4], [tuple(h) for h in r[4]]) for r in records]
                elif item.error().code() == KafkaError._PARTITION_EOF:
                    at_end.add(item.partition())
                else:
                    raise AssertionError(item.error().str())
    finally:
        consumer.close()
    return sorted(out, key=lambda r: (r[0], r[1]))


def produce(backend, topic: str, records: list[dict]) -> list[tuple]:
    """Produce and flush; the delivery reports as (error, partition, offset)."""
    reports = []
    producer = backend.producer({"linger.ms": 5})
    for r in records:
        producer.produce(topic, on_delivery=lambda e, m: reports.append((e, m[1], m[2])), **r)
    assert producer.flush() == 0
    producer.close()
    return reports


def test_topic_lifecycle_with_the_same_answers_and_errors(backend):
    assert backend.topics() == []
    info = backend.create_topic("orders", 3, {"retention.ms": "60000"})
    assert (info.name, info.partitions) == ("orders", 3)
    assert backend.topic_exists("orders") and not backend.topic_exists("other")
    with pytest.raises(TopicAlreadyExists, match="already exists"):
        backend.create_topic("orders", 3)
    assert backend.create_topic("orders", 1, if_not_exists=True).partitions == 3
    with pytest.raises(InvalidTopicName, match="'/'"):
        backend.create_topic("../x")
    with pytest.raises(InvalidPartitions, match="1 to 10000"):
        backend.create_topic("zero", 0)
    with pytest.raises(InvalidConfig, match="valid keys"):
        backend.create_topic("bad", 1, {"retention.hours": "1"})

    with pytest.raises(InvalidPartitions) as shrink:
        backend.alter_topic("orders", partitions=2)
    assert str(shrink.value) == base.partitions_can_only_grow_message("orders", 3)
    # A bad config value changes nothing, not even the partition count asked for with it.
    with pytest.raises(InvalidConfig, match="retention.ms"):
        backend.alter_topic("orders", partitions=5, config={"retention.ms": "soon"})
    assert backend.topic("orders").partitions == 3
    assert backend.alter_topic("orders", partitions=3).partitions == 3  # no change is fine
    grown = backend.alter_topic("orders", partitions=4, config={"segment.bytes": "1048576"})
    assert grown.partitions == 4

    desc = backend.describe_topic("orders")
    assert [p.partition for p in desc.partitions] == [0, 1, 2, 3]
    assert all((p.log_start_offset, p.log_end_offset) == (0, 0) for p in desc.partitions)
    assert list(desc.config) == list(CONFIG_KEYS)
    assert desc.config["retention.ms"] == 60000 and desc.config["retention.bytes"] == -1
    assert desc.overrides == {"retention.ms": 60000, "segment.bytes": 1048576}
    if backend.kind == "local":
        assert all(p.segments == 1 for p in desc.partitions)
        assert set(backend.segments("orders")) == {0, 1, 2, 3}
    else:  # a cluster's admin API shows no files
        assert all(p.size_bytes is None and p.segments is None for p in desc.partitions)
        assert backend.segments("orders") is None

    with pytest.raises(TopicNotFound) as missing:
        backend.describe_topic("nope")
    assert str(missing.value) == base.topic_not_found_message("nope", ["orders"])
    backend.delete_topic("orders")
    assert backend.topics() == []
    with pytest.raises(TopicNotFound) as gone:
        backend.delete_topic("orders")
    assert str(gone.value) == base.topic_not_found_message("orders", [])


def test_records_round_trip_and_keys_land_where_kafka_puts_them(backend):
    backend.create_topic("t", 3)
    keyed = [{"key": f"user-{i}", "value": f"v{i}"} for i in range(30)]
    unkeyed = [{"value": f"u{i}".encode()} for i in range(6)]
    extra = [
        {"key": b"\xff\x00", "value": b"\x80binary", "headers": [("h", b"1"), ("n", None)]},
        {"key": b"", "value": b"", "timestamp": RECENT_MS},
        {"key": b"null-value", "value": None},
    ]
    reports = produce(backend, "t", keyed + unkeyed + extra)
    assert len(reports) == 39 and all(err is None for err, _p, _o in reports)

    records = read_all(backend, "t", 3)
    assert len(records) == 39
    by_value = {r[4]: r for r in records}
    for i in range(30):
        partition = by_value[f"v{i}".encode()][0]
        # kafka-python's murmur2 is an independent implementation of Kafka's partitioner.
        assert partition == (kafka_python_murmur2(f"user-{i}".encode()) & 0x7FFFFFFF) % 3
    # Unkeyed records go round-robin, one per partition in turn.
    assert sorted(by_value[f"u{i}".encode()][0] for i in range(6)) == [0, 0, 1, 1, 2, 2]
    binary = by_value[b"\x80binary"]
    assert binary[3] == b"\xff\x00" and binary[5] == [("h", b"1"), ("n", None)]
    empty = by_value[b""]
    assert (empty[2], empty[3]) == (RECENT_MS, b"")
    assert [r for r in records if r[3] == b"null-value"][0][4] is None
    # Offsets are contiguous from 0 in each partition, and the reports said so too.
    for p in range(3):
        offsets = [r[1] for r in records if r[0] == p]
        assert offsets == list(range(len(offsets)))
    assert sorted((p, o) for _e, p, o in reports) == sorted((r[0], r[1]) for r in records)


def test_producer_refuses_what_the_local_producer_refuses(backend):
    backend.create_topic("tiny", 2, {"max.message.bytes": "200"})
    producer = backend.producer()
    try:
        with pytest.raises(KafkaException) as out_of_range:
            producer.produce("tiny", b"v", partition=2)
        assert out_of_range.value.args[0].code() == KafkaError._UNKNOWN_PARTITION
        assert str(out_of_range.value) == base.partition_not_found_message("tiny", 2, 2)
        with pytest.raises(KafkaException) as too_big:
            producer.produce("tiny", b"x" * 300)
        assert too_big.value.args[0].code() == KafkaError.MSG_SIZE_TOO_LARGE
        assert "larger than max.message.bytes=200 of topic 'tiny'" in str(too_big.value)
        with pytest.raises(KafkaException, match="does not exist"):
            producer.produce("nope", b"v")
        with pytest.raises(KafkaException, match="milliseconds since the epoch"):
            producer.produce("tiny", b"v", timestamp=-5)
        with pytest.raises(KafkaException) as bulk:
            producer.produce_many("tiny", [b"a", b"b", b"y" * 300, b"c"], partition=0)
        assert bulk.value.queued == 2
        assert producer.flush() == 0
    finally:
        producer.close()
    assert [r[4] for r in read_all(backend, "tiny", 2)] == [b"a", b"b"]


def test_watermarks_tail_offsets_and_time_lookup(backend):
    backend.create_topic("log", 1)
    # Recent: records older than retention.ms (7 days) may be deleted by a broker at once.
    base_ts = int(time.time() * 1000) - 60_000
    produce(backend, "log", [{"value": f"r{i}", "timestamp": base_ts + i * 1000} for i in range(5)])
    consumer = backend.consumer({"enable.partition.eof": True})
    try:
        assert consumer.get_watermark_offsets(TopicPartition("log", 0)) == (0, 5)
        found = consumer.offsets_for_times([TopicPartition("log", 0, base_ts + 2500)])
        assert found[0].offset == 3
        late = consumer.offsets_for_times([TopicPartition("log", 0, base_ts + 60_000)])
        assert late[0].offset == -1
    finally:
        consumer.close()

    def tail(n: int) -> list[bytes]:
        c = backend.consumer({"enable.partition.eof": True})
        c.assign([TopicPartition("log", 0, OFFSET_TAIL(n))])
        got: list[bytes] = []
        deadline = time.monotonic() + WAIT_S
        try:
            while time.monotonic() < deadline:
                items = c.consume_records(100, timeout=0.2)
                got += [r[3] for it in items if it.__class__ is tuple for r in it[2]]
                if any(it.__class__ is not tuple for it in items):
                    return got
            raise AssertionError("no end of partition")
        finally:
            c.close()

    assert tail(2) == [b"r3", b"r4"]
    assert tail(50) == [b"r0", b"r1", b"r2", b"r3", b"r4"]  # fewer records: all of them


def test_group_commits_describe_reset_and_delete(backend):
    backend.create_topic("events", 2)
    produce(backend, "events", [{"key": f"k{i}", "value": f"v{i}"} for i in range(10)])
    groups = backend.groups()
    with pytest.raises(GroupNotFound) as unknown:
        groups.describe_group("readers")
    assert str(unknown.value) == group_messages.group_not_found_message("readers", [])

    assigned: list = []
    consumer = backend.consumer(
        {
            "group.id": "readers",
            "enable.partition.eof": True,
            "enable.auto.offset.store": False,
            "session.timeout.ms": 6000,
            "client.id": "reader-1",
        }
    )
    seen = 0
    at_end: set[int] = set()
    deadline = time.monotonic() + WAIT_S
    try:
        consumer.subscribe(["events"], on_assign=lambda c, ps: assigned.append(ps))
        while not (assigned and at_end == {0, 1}):
            assert time.monotonic() < deadline, "the group never delivered both partitions"
            for item in consumer.consume_records(1000, timeout=0.2):
                if item.__class__ is tuple:
                    topic, partition, records = item
                    seen += len(records)
                    consumer.store_offsets(
                        offsets=[TopicPartition(topic, partition, records[-1][0] + 1)]
                    )
                elif item.error().code() == KafkaError._PARTITION_EOF:
                    at_end.add(item.partition())
        assert seen == 10
        assert [(tp.topic, tp.partition) for tp in assigned[-1]] == [("events", 0), ("events", 1)]

        live = groups.describe_group("readers")
        assert live.state == "Stable" and len(live.members) == 1
        member = live.members[0]
        assert member.client_id == "reader-1"
        assert member.assignment == (("events", 0), ("events", 1))
        with pytest.raises(GroupNotEmpty, match="1 live member"):
            groups.check_inactive("readers", "reset")
        with pytest.raises(GroupNotEmpty, match="can only be deleted"):
            groups.delete_group("readers")
    finally:
        consumer.close()  # commits what was stored, leaves the group

    summary = {g.group: g for g in groups.list_groups()}["readers"]
    assert (summary.state, summary.members) == ("Empty", 0)
    rows = groups.partition_offsets("readers")
    assert [(r.partition, r.committed_offset, r.lag) for r in rows] == [
        (0, rows[0].log_end_offset, 0),
        (1, rows[1].log_end_offset, 0),
    ]
    assert sum(r.log_end_offset for r in rows) == 10

    plan = groups.plan_reset("readers", "events", ResetSpec("shift", -3))
    assert [(r.new_offset, r.clamped) for r in plan] == [
        (max(r.log_end_offset - 3, 0), r.log_end_offset < 3) for r in plan
    ]
    groups.execute_reset("readers", plan)
    assert [r.committed_offset for r in groups.partition_offsets("readers")] == [
        r.new_offset for r in plan
    ]
    earliest = groups.plan_reset("readers", "events", ResetSpec("earliest"), [1])
    assert [(r.partition, r.new_offset) for r in earliest] == [(1, 0)]
    with pytest.raises(InvalidPartitions, match="partition 7 does not exist"):
        groups.plan_reset("readers", "events", ResetSpec("latest"), [7])

    groups.delete_group("readers")
    assert groups.list_groups() == []
    with pytest.raises(GroupNotFound):
        groups.delete_group("readers")


def test_info_says_where_the_data_is(backend):
    backend.create_topic("a", 2)
    info = backend.info()
    assert (info.topics, info.partitions) == (1, 2)
    assert info.cluster_id
    if backend.kind == "local":
        # No records yet: only each partition's two small offset checkpoint files.
        assert 0 <= info.size_bytes < 1024 and info.location == info.details["data_dir"]
    else:
        assert info.size_bytes is None
        assert info.details["security_protocol"] == "PLAINTEXT"
        assert info.details["brokers"] == 1


# -- a cluster only: connection trouble, secrets, the optional dependency ---------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_cluster_is_reported_at_once():
    b = RemoteBackend(Connection(f"127.0.0.1:{free_port()}"), timeout_s=WAIT_S)
    started = time.monotonic()
    with pytest.raises(KcliError, match=r"cannot connect .*Connection refused.*broker running"):
        b.topics()
    assert time.monotonic() - started < WAIT_S / 2  # not the whole timeout


def test_credentials_trouble_is_clear_and_never_shows_the_secret(cluster):
    conn = Connection(
        cluster.bootstrap,
        {
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "PLAIN",
            "sasl.username": "api-key",
            "sasl.password": SECRET,
        },
    )
    with pytest.raises(KcliError) as refused:
        RemoteBackend(conn, timeout_s=WAIT_S).topics()
    assert "refused the credentials" in str(refused.value)
    assert SECRET not in str(refused.value)

    typo = Connection(cluster.bootstrap, {"sasl.pasword": SECRET})
    with pytest.raises(KcliError, match='invalid Kafka client setting.*"sasl.pasword"') as bad:
        RemoteBackend(typo).topics()
    assert SECRET not in str(bad.value)


def test_debug_output_masks_secrets(cluster, capsys):
    from kcli.render.output import show_debug_lines

    show_debug_lines()  # what kcli --debug does
    conn = Connection(cluster.bootstrap, {"sasl.password": SECRET, "client.id": "dbg"})
    backend = RemoteBackend(conn, debug=True)
    assert backend.topics() == []
    err = capsys.readouterr().err
    assert "sasl.password=********" in err and "client.id=dbg" in err
    assert SECRET not in err


def test_without_confluent_kafka_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "confluent_kafka", None)
    with pytest.raises(KcliError) as missing:
        RemoteBackend(Connection("127.0.0.1:9092"))
    assert INSTALL_HINT in str(missing.value)


def test_assignors_librdkafka_lacks_are_refused_by_name(cluster):
    backend = RemoteBackend(Connection(cluster.bootstrap))
    with pytest.raises(KafkaException, match="'sticky' assignor is not available"):
        backend.consumer({"group.id": "g", "partition.assignment.strategy": "sticky"})
