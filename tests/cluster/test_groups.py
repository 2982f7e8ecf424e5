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


def _cluster_with_orders(make_cluster):
    """A 3-broker cluster with topic orders (3 partitions, RF 3) holding 100 records each."""
    c = make_cluster(3)
    c.create_topic("orders", 3, 3)
    p = producer(c.bootstrap)
    for i in range(300):
        p.produce("orders", str(i).encode(), partition=i % 3)
    p.flush(30)
    return c


def _consumer(bootstrap: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": GROUP,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 500,
            "topic.metadata.refresh.interval.ms": 1000,
        }
    )


def test_a_group_keeps_its_committed_offsets_when_its_coordinator_is_killed(make_cluster):
    c = _cluster_with_orders(make_cluster)
    first = _consumer(c.bootstrap)
    seen: list = []
    try:
        first.subscribe(["orders"])
        _poll(first, 150, seen)
        assert len(seen) >= 150
        first.commit(asynchronous=False)
        committed = {
            tp.partition: tp.offset
            for tp in first.committed(first.assignment(), timeout=10)
            if tp.offset >= 0
        }
        expected: dict[int, int] = {}
        for part, offset, _ in seen:
            expected[part] = max(expected.get(part, 0), offset + 1)
        assert committed == expected

        # The coordinator: the leader of the group's partition of __consumer_offsets.
        slot = offsets_partition_for(GROUP, 3)  # offsets.topic.num.partitions=3 in the tests
        coordinator = c.partition("__consumer_offsets", slot)["leader"]
        c.kcli("cluster", "kill", str(coordinator))
        moved = c.wait_partition(
            "__consumer_offsets", slot, lambda q: q["leader"] not in (-1, coordinator)
        )
        assert moved["leader_epoch"] >= 1
        # The consumer keeps consuming through the loss.
        while len({v for _, _, v in seen}) < 300:
            before = len(seen)
            _poll(first, len(seen) + 1, seen, timeout_polls=60)
            assert len(seen) > before, "the consumer stopped getting records"
    finally:
        first.close()

    # The new coordinator loaded the offsets: they are intact, for kcli and for the next
    # member, which starts exactly there.
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
    rows = {r["partition"]: r for r in map(json.loads, described.stdout.splitlines())}
    assert {
        p: r["committed_offset"]
        for p, r in rows.items()
        if r["committed_offset"] is not None and r["committed_offset"] >= 0
    } == committed
    second = _consumer(c.bootstrap)
    again: list = []
    try:
        second.subscribe(["orders"])
        _poll(second, 300 - sum(committed.values()), again)
        second.commit(asynchronous=False)
    finally:
        second.close()
    firsts = {}
    for part, offset, _ in again:
        firsts.setdefault(part, offset)
    left = {part: offset for part, offset in committed.items() if offset < 100}
    assert {part: firsts[part] for part in left} == left
    assert len(again) == 300 - sum(committed.values())


def _published(c, broker_id: int, group: str):
    """The group as broker ``broker_id``'s coordinator published it in its own store."""
    from storage import Store
    from storage.groups import GroupNotFound, GroupStore

    store = Store(c.data_dir / "cluster" / f"broker-{broker_id}", create=False)
    try:
        return GroupStore(store).describe_group(group)
    except GroupNotFound:
        return None
    finally:
        store.close()


def test_a_new_coordinator_continues_the_group_in_its_generation(make_cluster):
    c = _cluster_with_orders(make_cluster)
    assignments: list[list[int]] = []
    revocations: list[list[int]] = []
    consumer = _consumer(c.bootstrap)
    seen: list = []
    try:
        consumer.subscribe(
            ["orders"],
            on_assign=lambda _c, ps: assignments.append(sorted(tp.partition for tp in ps)),
            on_revoke=lambda _c, ps: revocations.append(sorted(tp.partition for tp in ps)),
        )
        _poll(consumer, 150, seen)
        consumer.commit(asynchronous=False)
        slot = offsets_partition_for(GROUP, 3)
        coordinator = c.partition("__consumer_offsets", slot)["leader"]
        before = c.wait_for(
            lambda _s: (g := _published(c, coordinator, GROUP)) and g.state == "Stable" and g,
            what="the group to be stable",
        )
        assert before.generation >= 1
        (member,) = before.members
        assert member.assignment == (("orders", 0), ("orders", 1), ("orders", 2))

        c.kcli("cluster", "kill", str(coordinator))
        moved = c.wait_partition(
            "__consumer_offsets", slot, lambda q: q["leader"] not in (-1, coordinator)
        )
        # The new coordinator loaded the group's GroupMetadata record: same generation, same
        # member, same assignment (not a group started afresh at generation 0).
        after = c.wait_for(
            lambda _s: (g := _published(c, moved["leader"], GROUP)) and g.members and g,
            what="the new coordinator to know the group",
        )
        assert (after.state, after.generation) == ("Stable", before.generation)
        assert [(m.member_id, m.assignment) for m in after.members] == [
            (member.member_id, member.assignment)
        ]
        # The member goes on in its generation: no rebalance, and its commits are accepted.
        while len({v for _, _, v in seen}) < 300:
            count = len(seen)
            _poll(consumer, len(seen) + 1, seen, timeout_polls=60)
            assert len(seen) > count, "the consumer stopped getting records"
        consumer.commit(asynchronous=False)
        committed = {
            tp.partition: tp.offset for tp in consumer.committed(consumer.assignment(), timeout=10)
        }
    finally:
        consumer.close()
    assert assignments == [[0, 1, 2]] and revocations == [[0, 1, 2]]  # the one at close
    assert committed == {0: 100, 1: 100, 2: 100}


def test_a_kcli_consumer_group_goes_on_in_its_generation_when_its_coordinator_is_killed(
    make_cluster,
):
    import signal
    import subprocess
    import sys
    import threading
    import time

    c = _cluster_with_orders(make_cluster)
    consumer = subprocess.Popen(
        [sys.executable, "-m", "kcli", "--bootstrap-server", c.bootstrap, "consume", "orders"]
        + ["--group", GROUP, "--follow", "-o", "json", "--session-timeout-ms", "6000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=c.env,
    )
    values: list[str] = []
    threading.Thread(
        target=lambda: [values.append(json.loads(line)["value"]) for line in consumer.stdout],
        daemon=True,
    ).start()

    def wait_for_values(count: int) -> None:
        deadline = time.monotonic() + 60
        while len(values) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(values) >= count, f"the kcli consumer printed {len(values)} of {count}"

    try:
        wait_for_values(300)
        slot = offsets_partition_for(GROUP, 3)
        coordinator = c.partition("__consumer_offsets", slot)["leader"]
        before = c.wait_for(
            lambda _s: (g := _published(c, coordinator, GROUP)) and g.state == "Stable" and g,
            what="the group to be stable",
        )
        c.kcli("cluster", "kill", str(coordinator))
        moved = c.wait_partition(
            "__consumer_offsets", slot, lambda q: q["leader"] not in (-1, coordinator)
        )
        after = c.wait_for(
            lambda _s: (g := _published(c, moved["leader"], GROUP)) and g.members and g,
            what="the new coordinator to know the group",
        )
        assert after.generation == before.generation >= 1
        assert [m.member_id for m in after.members] == [m.member_id for m in before.members]
        # It goes on consuming: records produced after the kill arrive, each exactly once.
        p = producer(c.bootstrap)
        for i in range(300, 600):
            p.produce("orders", str(i).encode(), partition=i % 3)
        p.flush(30)
        wait_for_values(600)
    finally:
        consumer.send_signal(signal.SIGINT)
        consumer.wait(30)
    assert sorted(values, key=int) == [str(i) for i in range(600)]
    described = c.kcli(
        "--bootstrap-server", c.bootstrap, "group", "describe", GROUP, "-o", "json", data_dir=False
    )
    rows = [json.loads(line) for line in described.stdout.splitlines()]
    assert {r["partition"]: r["committed_offset"] for r in rows} == {0: 200, 1: 200, 2: 200}
