"""A consumer group on the cluster: its coordinator is the leader of its __consumer_offsets
partition, and its committed offsets survive that broker being killed."""

from __future__ import annotations

import json

import pytest
from confluent_kafka import Consumer

from kcli.cluster.group_offsets import offsets_partition_for
from tests.cluster.clients import producer

pytestmark = pytest.mark.slow

GROUP = "billing"


def _poll(consumer, want: int, seen: list, timeout_polls: int = 120) -> None:
    misses = 0
    while len(seen) < want and misses < timeout_polls:
        msg = consumer.poll(0.5)
        if msg is None or msg.error():
            misses += 1
            continue
        seen.append((msg.partition(), msg.offset(), msg.value()))


def test_a_group_keeps_its_committed_offsets_when_its_coordinator_is_killed(make_cluster):
    c = make_cluster(3)
    c.create_topic("orders", 3, 3)
    p = producer(c.bootstrap)
    for i in range(300):
        p.produce("orders", str(i).encode(), partition=i % 3)
    p.flush(30)
    consumer = Consumer(
        {
            "bootstrap.servers": c.bootstrap,
            "group.id": GROUP,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 500,
            "topic.metadata.refresh.interval.ms": 1000,
        }
    )
    try:
        consumer.subscribe(["orders"])
        seen: list = []
        _poll(consumer, 150, seen)
        assert len(seen) >= 150
        consumer.commit(asynchronous=False)
        committed = {tp.partition: tp.offset for tp in consumer.committed(consumer.assignment())}
        assert sum(committed.values()) == len(seen)

        # The coordinator: the leader of the group's partition of __consumer_offsets.
        slot = offsets_partition_for(GROUP, 3)  # offsets.topic.num.partitions=3 in the tests
        coordinator = c.partition("__consumer_offsets", slot)["leader"]
        c.kcli("cluster", "kill", str(coordinator))
        moved = c.wait_partition(
            "__consumer_offsets", slot, lambda q: q["leader"] not in (-1, coordinator)
        )
        assert moved["leader_epoch"] >= 1

        # The group goes on where it committed; the new coordinator loaded the offsets.
        before = len(seen)
        _poll(consumer, 300, seen)
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    values = [v for _, _, v in seen]
    assert sorted(set(values), key=int) == [str(i).encode() for i in range(300)]
    # Nothing committed before the kill was delivered again.
    first = {(pp, o) for pp, o, _ in seen[:before]}
    assert not [(pp, o) for pp, o, _ in seen[before:] if (pp, o) in first]
    described = c.kcli(
        "--bootstrap-server",
        c.bootstrap,
        "group",
        "describe",
        GROUP,
        "-o",
        "json",
        data_dir=False,
    )
    rows = [json.loads(line) for line in described.stdout.splitlines()]
    assert sum(r["committed_offset"] for r in rows) == 300
