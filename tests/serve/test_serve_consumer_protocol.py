"""The KIP-848 consumer protocol over the wire: confluent-kafka consumers with
``group.protocol=consumer`` against ``kcli serve`` (ConsumerGroupHeartbeat, server-side
assignment, reconciliation), ConsumerGroupDescribe, and the answers Kafka gives when a classic
and a consumer-protocol group share an id."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from kcli.serve import protocol as kp
from kcli.serve.consumer_protocol import encode_subscription
from storage import ProducerRecord, Store
from storage.groups import GroupStore
from tests.waiting import wait_for

from .helpers import FAST_GROUPS, Member, RawClient, ServeProcess, split_evenly

PARTITIONS = 4
SESSION_TIMEOUT_MS = 4000
# The broker sets both for consumer-protocol groups; short ones keep the tests short.
CONSUMER_GROUPS = (
    *FAST_GROUPS,
    f"group.consumer.session.timeout.ms={SESSION_TIMEOUT_MS}",
    "group.consumer.heartbeat.interval.ms=500",
)
TIMEOUT_S = 90
GROUP_ID_NOT_FOUND = 69
INCONSISTENT_GROUP_PROTOCOL = 23
FENCED_MEMBER_EPOCH = 110
UNKNOWN_MEMBER_ID = 25
UNRELEASED_INSTANCE_ID = 111
UNSUPPORTED_ASSIGNOR = 112


@pytest.fixture(scope="module")
def kip848_server(tmp_path_factory):
    """One server for the request-by-request tests (each uses its own group ids)."""
    d = tmp_path_factory.mktemp("serve")
    (d / "data").mkdir()
    proc = ServeProcess(d / "data", d / "serve.log", CONSUMER_GROUPS).start()
    Store(proc.data_dir).create_topic("events", PARTITIONS)
    yield proc
    if proc.alive():
        proc.proc.kill()
        proc.proc.wait()


def _produce(store: Store, topic: str, count: int) -> None:
    for i in range(count):
        store.log(topic, i % PARTITIONS).append_records([ProducerRecord(f"v{i}".encode())])


def _heartbeat(client: RawClient, group: str, member_id: str, epoch: int, **fields):
    return client.call(
        kp.ConsumerGroupHeartbeatRequest,
        kp.ConsumerGroupHeartbeatResponse,
        1,
        group_id=group,
        member_id=member_id,
        member_epoch=epoch,
        **fields,
    )


def _join(client: RawClient, group: str, topic: str, member_id: str | None = None, **fields):
    return _heartbeat(
        client,
        group,
        member_id or str(uuid.uuid4()),
        0,
        rebalance_timeout_ms=30000,
        subscribed_topic_names=[topic],
        topic_partitions=[],
        **fields,
    )


def _classic_join(client: RawClient, group: str, protocol):
    return client.call(
        kp.JoinGroupRequest,
        kp.JoinGroupResponse,
        9,
        group_id=group,
        session_timeout_ms=10000,
        rebalance_timeout_ms=10000,
        member_id="",
        group_instance_id=None,
        protocol_type="consumer",
        protocols=[protocol],
        reason=None,
    )


def _owned(response) -> set[int]:
    if response.assignment is None:
        return set()
    return {p for tp in response.assignment.topic_partitions for p in tp.partitions}


def _kcli_json(*args) -> list[dict]:
    result = subprocess.run(
        [sys.executable, "-m", "kcli", *args, "--output", "json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return [json.loads(line) for line in result.stdout.splitlines()]


# -- the protocol, request by request -------------------------------------------------------


def test_api_versions_advertises_consumer_group_heartbeat_and_describe(kip848_server):
    c = RawClient(kip848_server.host, kip848_server.port)
    versions = c.call(kp.ApiVersionsRequest, kp.ApiVersionsResponse, 3)
    keys = {k.api_key: (k.min_version, k.max_version) for k in versions.api_keys}
    assert keys[68] == (0, 1)
    assert keys[69] == (0, 1)
    c.close()


def test_a_member_gets_partitions_only_after_their_owner_revoked_them(kip848_server):
    c = RawClient(kip848_server.host, kip848_server.port)
    a = _join(c, "g", "events")
    assert a.error_code == 0 and a.member_epoch == 1
    assert _owned(a) == {0, 1, 2, 3}
    assert a.heartbeat_interval_ms == 500
    b_id = str(uuid.uuid4())
    b = _join(c, "g", "events", member_id=b_id)
    assert b.member_epoch == 2
    # b's target is half the partitions, but a still owns them: b gets nothing yet.
    assert _owned(b) == set()
    # a, still at epoch 1, is told to keep only its half ...
    a2 = _heartbeat(c, "g", a.member_id, 1, topic_partitions=None)
    assert a2.member_epoch == 1
    kept = _owned(a2)
    assert len(kept) == 2
    # ... and until a says it revoked the rest, b waits.
    assert _owned(_heartbeat(c, "g", b_id, 2, topic_partitions=None)) == set()
    topic_id = a.assignment.topic_partitions[0].topic_id
    entry = kp.ConsumerGroupHeartbeatRequest.TopicPartitions
    a3 = _heartbeat(
        c, "g", a.member_id, 1, topic_partitions=[entry(topic_id=topic_id, partitions=sorted(kept))]
    )
    assert a3.member_epoch == 2
    b2 = _heartbeat(c, "g", b_id, 2, topic_partitions=None)
    assert _owned(b2) == {0, 1, 2, 3} - kept
    # ConsumerGroupDescribe: epochs, current and target assignments.
    described = c.call(
        kp.ConsumerGroupDescribeRequest,
        kp.ConsumerGroupDescribeResponse,
        1,
        group_ids=["g", "nope"],
        include_authorized_operations=False,
    )
    g, nope = described.groups
    assert (g.error_code, g.group_state, g.group_epoch, g.assignment_epoch) == (0, "Stable", 2, 2)
    assert g.assignor_name == "uniform"
    members = {m.member_id: m for m in g.members}
    assert {m.member_epoch for m in members.values()} == {2}
    for m in members.values():
        current = {p for tp in m.assignment.topic_partitions for p in tp.partitions}
        target = {p for tp in m.target_assignment.topic_partitions for p in tp.partitions}
        assert current == target and len(current) == 2
    assert nope.error_code == GROUP_ID_NOT_FOUND
    c.close()


def test_epochs_are_fenced_and_assignors_checked(kip848_server):
    c = RawClient(kip848_server.host, kip848_server.port)
    a = _join(c, "fenced", "events")
    assert _heartbeat(c, "fenced", a.member_id, 7).error_code == FENCED_MEMBER_EPOCH
    assert _heartbeat(c, "fenced", "who", 1).error_code == UNKNOWN_MEMBER_ID
    refused = _join(c, "fenced-2", "events", server_assignor="sticky")
    assert refused.error_code == UNSUPPORTED_ASSIGNOR
    ranged = _join(c, "fenced-3", "events", server_assignor="range")
    assert _owned(ranged) == {0, 1, 2, 3}
    # A static member's instance id is taken while it is in the group.
    first = _join(c, "fenced-4", "events", instance_id="i-1")
    assert first.error_code == 0
    assert _join(c, "fenced-4", "events", instance_id="i-1").error_code == UNRELEASED_INSTANCE_ID
    # Left with epoch -2 (a static member restarting): its successor takes its partitions and
    # epoch, and the group epoch stays.
    _heartbeat(c, "fenced-4", first.member_id, -2)
    back = _join(c, "fenced-4", "events", instance_id="i-1")
    assert (back.error_code, back.member_epoch) == (0, first.member_epoch)
    assert _owned(back) == {0, 1, 2, 3}
    # Leaving with -1 frees everything.
    left = _heartbeat(c, "fenced", a.member_id, -1)
    assert (left.error_code, left.member_epoch) == (0, -1)
    c.close()


def test_a_classic_and_a_consumer_group_with_one_id_answer_as_kafka_does(kip848_server):
    c = RawClient(kip848_server.host, kip848_server.port)
    # A live consumer-protocol group: a classic JoinGroup is INCONSISTENT_GROUP_PROTOCOL and
    # DescribeGroups says GROUP_ID_NOT_FOUND (it describes classic groups only).
    _join(c, "shared", "events")
    protocol = kp.JoinGroupRequest.JoinGroupRequestProtocol(
        name="range", metadata=encode_subscription(("events",))
    )
    joined = _classic_join(c, "shared", protocol)
    assert joined.error_code == INCONSISTENT_GROUP_PROTOCOL
    described = c.call(
        kp.DescribeGroupsRequest,
        kp.DescribeGroupsResponse,
        5,
        groups=["shared"],
        include_authorized_operations=False,
    )
    assert described.groups[0].error_code == GROUP_ID_NOT_FOUND
    # A live classic group: ConsumerGroupHeartbeat and ConsumerGroupDescribe say
    # GROUP_ID_NOT_FOUND ("is not a consumer group").
    first = _classic_join(c, "old", protocol)
    assert first.error_code == 79  # MEMBER_ID_REQUIRED: the classic group has a pending member
    hb = _join(c, "old", "events")
    assert hb.error_code == GROUP_ID_NOT_FOUND
    assert "not a consumer group" in hb.error_message
    described = c.call(
        kp.ConsumerGroupDescribeRequest,
        kp.ConsumerGroupDescribeResponse,
        0,
        group_ids=["old"],
        include_authorized_operations=False,
    )
    assert described.groups[0].error_code == GROUP_ID_NOT_FOUND
    c.close()


# -- confluent-kafka with group.protocol=consumer --------------------------------------------


@pytest.mark.slow
def test_confluent_consumers_split_partitions_take_over_a_killed_member_and_keep_commits(
    serve_factory,
):
    server = serve_factory(*CONSUMER_GROUPS)
    store = Store(server.data_dir)
    store.create_topic("orders", PARTITIONS)
    _produce(store, "orders", 40)
    a = Member("confluent-kafka-consumer", server.bootstrap, "orders", "billing", "member-a")
    b = None
    try:
        wait_for(lambda: a.assignment == [0, 1, 2, 3], "a owns all 4", timeout=TIMEOUT_S)
        b = Member("confluent-kafka-consumer", server.bootstrap, "orders", "billing", "member-b")
        wait_for(lambda: split_evenly(a, b), "2 + 2", timeout=TIMEOUT_S)
        # a kept consuming the partitions it retained: it never gave them up.
        assert all(len(owned) >= 2 for owned in a.assignments[a.assignments.index([0, 1, 2, 3]) :])
        wait_for(lambda: len(set(a.values) | set(b.values)) == 40, "all 40 read", timeout=TIMEOUT_S)
        # kcli group describe: the group's type, each member's epoch and its target.
        local = ("--data-dir", str(server.data_dir), "group", "describe", "billing")
        state = _kcli_json(*local, "--state")[0]
        assert (state["group_type"], state["state"]) == ("consumer", "Stable")
        assert state["assignment_epoch"] == state["generation"]
        members = _kcli_json(*local, "--members")
        assert {m["member_epoch"] for m in members} == {state["generation"]}
        assert all(m["target_assignment"] == m["assignment"] for m in members)
        remote = ("--bootstrap-server", server.bootstrap, "group", "describe", "billing")
        assert _kcli_json(*remote, "--state")[0]["group_type"] == "consumer"
        remote_members = _kcli_json(*remote, "--members")
        assert sorted(p["partition"] for m in remote_members for p in m["target_assignment"]) == [
            0,
            1,
            2,
            3,
        ]
        b.kill()  # kill -9: no leave; the coordinator waits for its session to time out
        wait_for(lambda: a.assignment == [0, 1, 2, 3], "a takes over b's", timeout=TIMEOUT_S)
        _produce(store, "orders", 8)
        wait_for(lambda: len(a.values) + len(b.values) >= 48, "new records", timeout=TIMEOUT_S)
    finally:
        a.stop()
        if b is not None:
            b.stop()
    committed = GroupStore(store).fetch_offsets("billing", None)
    assert sum(o.offset for o in committed.values()) == 48
    # Commits survive: a new member starts after them and reads nothing again.
    c = Member("confluent-kafka-consumer", server.bootstrap, "orders", "billing", "member-c")
    try:
        wait_for(lambda: c.assignment == [0, 1, 2, 3], "c owns all 4", timeout=TIMEOUT_S)
        _produce(store, "orders", 4)
        wait_for(lambda: len(c.values) == 4, "c reads the 4 new records", timeout=TIMEOUT_S)
        assert sorted(c.values) == ["v0", "v1", "v2", "v3"]
    finally:
        c.stop()
