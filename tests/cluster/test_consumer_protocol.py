"""The consumer protocol (KIP-848) on a kcli cluster: each broker's group coordinator is
kcli serve's, assigning in the cluster's topic ids; confluent-kafka consumers with
``group.protocol=consumer`` share the partitions and their commits outlive them."""

from __future__ import annotations

import pytest

from tests.cluster.clients import producer
from tests.serve.helpers import Member, split_evenly
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

TIMEOUT_S = 90
CONSUMER_GROUPS = (
    "group.consumer.session.timeout.ms=4000",
    "group.consumer.heartbeat.interval.ms=500",
)


def _produce(bootstrap: str, first: int, count: int) -> None:
    p = producer(bootstrap)
    for i in range(first, first + count):
        p.produce("orders", f"v{i}".encode(), partition=i % 4)
    p.flush(30)


def test_consumer_protocol_members_split_partitions_and_keep_commits_on_a_cluster(
    make_cluster,
):
    c = make_cluster(3, *CONSUMER_GROUPS)
    c.create_topic("orders", 4, 3)
    _produce(c.bootstrap, 0, 40)
    args = ("confluent-kafka-consumer", c.bootstrap, "orders", "billing")
    a = Member(*args, "member-a")
    b = Member(*args, "member-b")
    try:
        wait_for(lambda: split_evenly(a, b), "2 + 2", timeout=TIMEOUT_S)
        wait_for(lambda: len(set(a.values) | set(b.values)) == 40, "all 40", timeout=TIMEOUT_S)
    finally:
        a.stop()
        b.stop()
    later = Member(*args, "member-c")
    try:
        wait_for(lambda: later.assignment == [0, 1, 2, 3], "c owns all 4", timeout=TIMEOUT_S)
        _produce(c.bootstrap, 40, 4)
        wait_for(lambda: len(later.values) == 4, "the 4 new records", timeout=TIMEOUT_S)
        assert sorted(later.values) == ["v40", "v41", "v42", "v43"]
    finally:
        later.stop()
