"""Consumer groups over the wire: real clients in separate processes split a topic, rebalance
when one is killed, commit offsets that survive a restart, and show up in `kcli group`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from confluent_kafka import Consumer as CkConsumer
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.protocol.consumer import (
    HeartbeatRequest,
    HeartbeatResponse,
    JoinGroupRequest,
    JoinGroupResponse,
    SyncGroupRequest,
    SyncGroupResponse,
)

from kcli.serve.consumer_protocol import encode_assignment, encode_subscription
from storage import ProducerRecord, Store
from storage.groups import GroupStore
from tests.waiting import wait_for

from .helpers import FAST_GROUPS, Member, RawClient

PARTITIONS = 4
REBALANCE_TIMEOUT_S = 90
# Kafka's error codes, as the group APIs return them
ILLEGAL_GENERATION = 22
INCONSISTENT_GROUP_PROTOCOL = 23
MEMBER_ID_REQUIRED = 79


def _produce(store: Store, topic: str, values: list[str]) -> None:
    for i, value in enumerate(values):
        store.log(topic, i % PARTITIONS).append_records([ProducerRecord(value.encode())])


def _kcli_json(data_dir, *args) -> list[dict]:
    result = subprocess.run(
        [sys.executable, "-m", "kcli", "--data-dir", str(data_dir), *args, "--output", "json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize("client", ["confluent-kafka", "kafka-python"])
def test_two_process_group_splits_partitions_and_rebalances_when_one_dies(server, client):
    store = Store(server.data_dir)
    topic, group = f"orders-{client}", f"billing-{client}"
    store.create_topic(topic, PARTITIONS)
    a = Member(client, server.bootstrap, topic, group, "member-a")
    b = Member(client, server.bootstrap, topic, group, "member-b")
    try:

        def split():
            if a.assignment is None or b.assignment is None:
                return False
            return sorted(a.assignment + b.assignment) == list(range(PARTITIONS)) and (
                len(a.assignment) == len(b.assignment) == PARTITIONS // 2
            )

        wait_for(split, timeout=REBALANCE_TIMEOUT_S, what="both members to own two partitions each")
        first = [f"first-{i}" for i in range(20)]
        _produce(store, topic, first)
        wait_for(
            lambda: set(a.values) | set(b.values) >= set(first),
            timeout=REBALANCE_TIMEOUT_S,
            what="the members to read every record",
        )
        # Each record was read by the member owning its partition, and only by it.
        assert not set(a.values) & set(b.values)

        # kcli serve publishes its groups to the store a few times a second: wait for the
        # snapshot of the settled group rather than read one that may predate it.
        def settled():
            d = GroupStore(store).describe_group(group)
            return d if (d.state, d.coordinator, len(d.members)) == ("Stable", "serve", 2) else None

        desc = wait_for(
            settled, timeout=REBALANCE_TIMEOUT_S, what="the published group to be Stable"
        )
        by_client = {m.client_id: m for m in desc.members}
        assert sorted(p for _, p in by_client["member-a"].assignment) == a.assignment
        assert by_client["member-b"].topics == (topic,)
        assert by_client["member-b"].host == "127.0.0.1"
        # Kafka's admin API sees the same group (DescribeGroups, ListGroups).
        admin = KafkaAdminClient(bootstrap_servers=server.bootstrap)
        described = admin.describe_groups([group])[group]
        listed_by_admin = [g["group_id"] for g in admin.list_groups()]
        admin.close()
        assert (described["group_state"], described["protocol_type"]) == ("Stable", "consumer")
        assert {
            m["client_id"]: sorted(
                p for tp in m["member_assignment"]["assigned_partitions"] for p in tp["partitions"]
            )
            for m in described["members"]
        } == {"member-a": a.assignment, "member-b": b.assignment}
        assert group in listed_by_admin
        listed = {g["group"]: g for g in _kcli_json(server.data_dir, "group", "list")}
        assert (listed[group]["state"], listed[group]["members"]) == ("Stable", 2)

        a.kill()  # no LeaveGroup: the coordinator notices the missing heartbeats
        wait_for(
            lambda: b.assignment == list(range(PARTITIONS)),
            timeout=REBALANCE_TIMEOUT_S,
            what="the survivor to take every partition",
        )
        second = [f"second-{i}" for i in range(20)]
        _produce(store, topic, second)
        wait_for(
            lambda: set(b.values) >= set(second),
            timeout=REBALANCE_TIMEOUT_S,
            what="the survivor to read the new records",
        )
        rows = _kcli_json(server.data_dir, "group", "describe", group)
        assert sorted(r["partition"] for r in rows if r["client_id"] == "member-b") == list(
            range(PARTITIONS)
        )
        # Committed offsets: every partition at its log end (all 40 records were read).
        assert all(r["lag"] == 0 for r in rows), rows
        assert "no heartbeat within session.timeout.ms" in server.log()
    finally:
        a.stop()
        b.stop()
    wait_for(
        lambda: GroupStore(store).describe_group(group).state == "Empty",
        what="the group to be empty after the last member left",
    )


def test_committed_offsets_survive_a_server_restart(serve_factory):
    first = serve_factory(*FAST_GROUPS)
    store = Store(first.data_dir)
    store.create_topic("ledger", 2)
    _produce_values = [f"old-{i}" for i in range(10)]
    for i, value in enumerate(_produce_values):
        store.log("ledger", i % 2).append_records([ProducerRecord(value.encode())])
    consumer = KafkaConsumer(
        "ledger",
        bootstrap_servers=first.bootstrap,
        group_id="ledger-g",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=30_000,
    )
    seen = []
    for record in consumer:
        seen.append(record.value.decode())
        if len(seen) == 10:
            break
    consumer.commit()
    consumer.close()
    assert sorted(seen) == sorted(_produce_values)
    assert first.stop() == 0

    second = serve_factory(*FAST_GROUPS, data_dir=first.data_dir)
    admin = KafkaAdminClient(bootstrap_servers=second.bootstrap)
    committed = admin.list_group_offsets("ledger-g")["ledger-g"]
    admin.close()
    assert {tp.partition: om.offset for tp, om in committed.items()} == {0: 5, 1: 5}
    for i in range(4):
        store.log("ledger", i % 2).append_records([ProducerRecord(f"new-{i}".encode())])
    # Another client library in the same group resumes from the committed offsets.
    ck = CkConsumer(
        {
            "bootstrap.servers": second.bootstrap,
            "group.id": "ledger-g",
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
        }
    )
    ck.subscribe(["ledger"])
    got = []
    deadline = time.monotonic() + REBALANCE_TIMEOUT_S
    while len(got) < 4 and time.monotonic() < deadline:
        m = ck.poll(0.5)
        if m is not None and not m.error():
            got.append(m.value().decode())
    # Nothing more arrives: the old records are behind the committed offsets.
    extra = ck.poll(2.0)
    ck.close()
    assert sorted(got) == [f"new-{i}" for i in range(4)]
    assert extra is None or extra.error()


def _members(store: Store, group: str) -> int:
    from storage.groups import GroupNotFound

    try:
        return len(GroupStore(store).describe_group(group).members)
    except GroupNotFound:
        return 0


class RawMember:
    """One group member speaking JoinGroup v5, SyncGroup v3 and Heartbeat v3 on a bare socket."""

    def __init__(self, server, group: str, topic: str):
        self.client = RawClient(server.host, server.port)
        self.group, self.topic = group, topic
        self.member_id = ""

    def close(self) -> None:
        self.client.close()

    def join(self):
        """One JoinGroup; keeps the member id the coordinator hands out."""
        protocol = JoinGroupRequest[5].JoinGroupRequestProtocol(
            name="range", metadata=encode_subscription((self.topic,))
        )
        response = self.client.call(
            JoinGroupRequest,
            JoinGroupResponse,
            5,
            group_id=self.group,
            session_timeout_ms=10_000,
            rebalance_timeout_ms=10_000,
            member_id=self.member_id,
            group_instance_id=None,
            protocol_type="consumer",
            protocols=[protocol],
        )
        self.member_id = response.member_id or self.member_id
        return response

    def sync(self, generation: int, assignment: bytes | None = None) -> tuple[int, bytes]:
        """SyncGroup, as the leader when given this member's assignment; (error, assignment)."""
        entry = SyncGroupRequest[3].SyncGroupRequestAssignment
        response = self.client.call(
            SyncGroupRequest,
            SyncGroupResponse,
            3,
            group_id=self.group,
            generation_id=generation,
            member_id=self.member_id,
            group_instance_id=None,
            assignments=[]
            if assignment is None
            else [entry(member_id=self.member_id, assignment=assignment)],
        )
        return response.error_code, bytes(response.assignment)

    def heartbeat(self, generation: int) -> int:
        response = self.client.call(
            HeartbeatRequest,
            HeartbeatResponse,
            3,
            group_id=self.group,
            generation_id=generation,
            member_id=self.member_id,
            group_instance_id=None,
        )
        return response.error_code


def test_members_handed_their_ids_together_form_one_generation(shared_server):
    a = RawMember(shared_server, "together", "t")
    b = RawMember(shared_server, "together", "t")
    try:
        assert (a.join().error_code, b.join().error_code) == (
            MEMBER_ID_REQUIRED,
            MEMBER_ID_REQUIRED,
        )
        # Whichever joins with its id first waits for the other, as Kafka does (KIP-394),
        # rather than forming a generation of its own that the other's join then ends.
        with ThreadPoolExecutor(1) as pool:
            a_joining = pool.submit(a.join)
            b_joined = b.join()
            a_joined = a_joining.result()
        assert (a_joined.error_code, b_joined.error_code) == (0, 0)
        assert a_joined.generation_id == b_joined.generation_id
        leader = a_joined if a_joined.leader == a.member_id else b_joined
        assert sorted(m.member_id for m in leader.members) == sorted([a.member_id, b.member_id])
    finally:
        a.close()
        b.close()


def test_a_leader_rejoining_a_stable_group_starts_a_generation_with_its_new_assignment(
    shared_server,
):
    # What a kafka-python leader does when the topic's partitions arrive after it assigned
    # nothing: it rejoins at once with the same subscription.  As in Kafka, a leader's rejoin
    # starts a new generation, whose assignment the leader's SyncGroup then hands out.
    member = RawMember(shared_server, "leader-rejoins", "t")
    nothing = encode_assignment(())
    everything = encode_assignment(tuple(("t", p) for p in range(PARTITIONS)))
    try:
        assert member.join().error_code == MEMBER_ID_REQUIRED
        first = member.join()
        assert (first.error_code, first.leader) == (0, member.member_id)
        assert member.sync(first.generation_id, nothing) == (0, nothing)

        second = member.join()
        assert (second.error_code, second.leader) == (0, member.member_id)
        assert second.generation_id == first.generation_id + 1
        assert [m.member_id for m in second.members] == [member.member_id]
        assert member.heartbeat(first.generation_id) == ILLEGAL_GENERATION
        assert member.sync(second.generation_id, everything) == (0, everything)
        assert member.heartbeat(second.generation_id) == 0
    finally:
        member.close()


def test_wire_and_kcli_members_never_share_a_group(server):
    store = Store(server.data_dir)
    store.create_topic("mixed", 2)
    env = {k: v for k, v in os.environ.items() if k != "KCLI_DATA_DIR"}
    kcli_member = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kcli",
            "--data-dir",
            str(server.data_dir),
            "consume",
            "mixed",
            "--group",
            "by-kcli",
            "--follow",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        wait_for(
            lambda: _members(store, "by-kcli") == 1,
            what="the kcli consumer to join",
        )
        # A Kafka client cannot join a group that kcli processes coordinate through files.
        refused = RawMember(server, "by-kcli", "mixed")
        assert refused.join().error_code == INCONSISTENT_GROUP_PROTOCOL
        refused.close()
        wait_for(lambda: "has 1 live kcli consumer(s)" in server.log(), what="log line")
    finally:
        kcli_member.send_signal(signal.SIGINT)
        kcli_member.wait(60)

    # And a kcli consumer cannot join a group that kcli serve coordinates.
    wire = Member("kafka-python", server.bootstrap, "mixed", "by-wire", "wire-member")
    try:
        wait_for(
            lambda: wire.assignment == [0, 1], timeout=REBALANCE_TIMEOUT_S, what="the wire member"
        )
        wait_for(
            lambda: _members(store, "by-wire") == 1,
            what="the wire group to be published",
        )
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "kcli",
                "--data-dir",
                str(server.data_dir),
                "consume",
                "mixed",
                "--group",
                "by-wire",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert result.returncode == 1
        assert result.stderr.startswith("Error: group 'by-wire' is being coordinated by kcli serve")
        assert wire.proc.poll() is None and wire.assignment == [0, 1]
    finally:
        wire.stop()
