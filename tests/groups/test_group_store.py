"""GroupStore on real files: the coordinator's rules, with time moved by hand (FakeClock)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from storage import ProducerRecord, Store
from storage.groups import (
    GroupNotEmpty,
    GroupNotFound,
    GroupProtocolMismatch,
    GroupStore,
    IllegalGeneration,
    InconsistentGroupProtocol,
    InvalidGroupId,
    MemberDescription,
    OffsetAndMetadata,
    ResetSpec,
    UnknownMemberId,
    group_dir_name,
)

from .helpers import (  # noqa: F401 - fake_clock, group_store, store_on_fake_clock: fixtures
    SESSION,
    fake_clock,
    group_store,
    join,
    store_on_fake_clock,
)


def test_a_join_starts_a_generation_the_others_rejoin_into(groups, store):
    a = join(groups, "a")
    assert (a.group_state, a.generation) == ("Stable", 1)
    assert a.assignment == tuple(("t", p) for p in range(4))

    b = join(groups, "b")
    assert b.group_state == "PreparingRebalance" and b.assignment is None
    assert groups.heartbeat("g", a.member_id).rejoin_needed
    # a has not rejoined: nobody may have partitions yet.
    assert all(not m.assignment for m in groups.describe_group("g").members)
    a2 = join(groups, "a", member_id=a.member_id)
    assert (a2.group_state, a2.generation) == ("Stable", 2)
    b2 = groups.heartbeat("g", b.member_id)
    first, second = sorted([a2, b2], key=lambda v: v.member_id)
    assert first.assignment == (("t", 0), ("t", 1))
    assert second.assignment == (("t", 2), ("t", 3))
    # The assignment was computed once and stored with the generation.
    raw = json.loads((groups.group_path("g") / "state.json").read_text())
    assert raw["generation"] == 2
    assert raw["assignment"][a.member_id] == [list(tp) for tp in a2.assignment]


def test_a_silent_member_is_removed_after_its_session_timeout(groups, clock):
    a = join(groups, "a")
    b = join(groups, "b")
    join(groups, "a", member_id=a.member_id)
    clock.advance(SESSION)
    groups.heartbeat("g", a.member_id)  # exactly at the limit: b is still a member
    assert len(groups.describe_group("g").members) == 2
    clock.advance(1)
    view = groups.heartbeat("g", a.member_id)
    assert view.rejoin_needed
    view = join(groups, "a", member_id=a.member_id)
    assert view.assignment == tuple(("t", p) for p in range(4))
    with pytest.raises(UnknownMemberId, match="session.timeout.ms"):
        groups.heartbeat("g", b.member_id)


def test_a_member_that_does_not_rejoin_in_time_is_removed(groups, clock):
    a = join(groups, "a", rebalance_timeout_ms=10_000)
    b = join(groups, "b", rebalance_timeout_ms=10_000)
    for _ in range(4):  # a keeps heartbeating but never rejoins
        clock.advance(2500)
        groups.heartbeat("g", a.member_id)
        groups.heartbeat("g", b.member_id)
    clock.advance(1)  # past b's join + max.poll.interval.ms
    with pytest.raises(UnknownMemberId):
        groups.heartbeat("g", a.member_id)
    assert groups.heartbeat("g", b.member_id).assignment == tuple(("t", p) for p in range(4))


def test_a_clean_leave_rebalances_at_once_and_the_last_leaves_it_empty(groups):
    a = join(groups, "a")
    b = join(groups, "b")
    join(groups, "a", member_id=a.member_id)
    groups.leave_group("g", a.member_id)
    assert groups.heartbeat("g", b.member_id).rejoin_needed
    assert join(groups, "b", member_id=b.member_id).assignment == tuple(("t", p) for p in range(4))
    generation = groups.describe_group("g").generation
    groups.leave_group("g", b.member_id)
    d = groups.describe_group("g")
    assert (d.state, d.members, d.assignor, d.generation) == ("Empty", (), "", generation + 1)


def test_commits_are_checked_against_member_and_generation(groups, store, tmp_path):
    a = join(groups, "a")
    groups.commit_offsets("g", {("t", 0): 3}, generation=1, member_id=a.member_id)
    b = join(groups, "b")
    # During the rebalance a may still commit what it processed in generation 1.
    groups.commit_offsets("g", {("t", 1): 4}, generation=1, member_id=a.member_id)
    join(groups, "a", member_id=a.member_id)
    with pytest.raises(IllegalGeneration, match="generation 1 .* generation 2"):
        groups.commit_offsets("g", {("t", 0): 99}, generation=1, member_id=a.member_id)
    with pytest.raises(UnknownMemberId):
        groups.commit_offsets("g", {("t", 0): 99}, generation=2, member_id="nobody")
    with pytest.raises(UnknownMemberId, match="live member"):
        groups.commit_offsets("g", {("t", 0): 99})  # a tool, while the group is active
    groups.commit_offsets("g", {("t", 2): 7}, generation=2, member_id=b.member_id)
    # Durable and visible to any other store opened on the same directory.
    other = GroupStore(Store(store.data_dir))
    assert {tp: o.offset for tp, o in other.fetch_offsets("g").items()} == {
        ("t", 0): 3,
        ("t", 1): 4,
        ("t", 2): 7,
    }
    assert other.fetch_offsets("g", [("t", 2), ("t", 3)]) == {
        ("t", 2): OffsetAndMetadata(7, "", store.clock.now_ms())
    }


def test_members_must_share_an_assignor(groups):
    join(groups, "a", assignors="range")
    with pytest.raises(InconsistentGroupProtocol, match="share at least one"):
        join(groups, "b", assignors="sticky")
    view = join(groups, "c", assignors="sticky,range")
    assert view.assignor == "range"


def test_added_partitions_start_a_rebalance(groups, store):
    a = join(groups, "a")
    store.alter_topic("t", partitions=6)
    assert groups.heartbeat("g", a.member_id).rejoin_needed
    assert len(join(groups, "a", member_id=a.member_id).assignment) == 6


@pytest.mark.parametrize(
    "group",
    ["orders", "Orders", "../../etc", ".hidden", "a/b\\c:d", "g" * 249, "grüppe", "%41"],
)
def test_any_group_id_stays_inside_the_groups_directory(groups, store, group):
    groups.commit_offsets(group, {("t", 0): 1})
    path = groups.group_path(group)
    assert path.parent == store.groups_dir
    assert len(path.name) <= 255 and path.name not in (".", "..")
    assert [s.group for s in groups.list_groups()] == [group]
    assert groups.fetch_offsets(group)[("t", 0)].offset == 1
    if group != group.lower():
        assert group_dir_name(group) != group_dir_name(group.lower())


@pytest.mark.parametrize("group", ["", "g" * 250, "tab\there"])
def test_bad_group_ids_are_refused(groups, group):
    with pytest.raises(InvalidGroupId):
        groups.describe_group(group)


def test_delete_needs_an_inactive_group(groups):
    with pytest.raises(GroupNotFound, match="does not exist"):
        groups.delete_group("g")
    a = join(groups, "a")
    with pytest.raises(GroupNotEmpty, match="1 live member"):
        groups.delete_group("g")
    groups.leave_group("g", a.member_id)
    groups.delete_group("g")
    assert groups.list_groups() == []
    with pytest.raises(GroupNotFound):
        groups.describe_group("g")


def test_partition_offsets_and_lag(groups, store):
    store.log("t", 1).append_records([ProducerRecord(b"x")] * 5)
    groups.commit_offsets("g", {("t", 1): 2})
    rows = {r.partition: r for r in groups.partition_offsets("g")}
    assert (rows[1].committed_offset, rows[1].log_end_offset, rows[1].lag) == (2, 5, 3)
    assert (rows[0].committed_offset, rows[0].lag, rows[0].member_id) == (None, None, None)
    a = join(groups, "a")
    assert {r.member_id for r in groups.partition_offsets("g")} == {a.member_id}


def test_reset_plans_and_refuses_while_active(groups, store, clock):
    log = store.log("t", 0)
    now = clock.now_ms()
    log.append_records([ProducerRecord(b"old", timestamp=now - 9000)] * 3)
    log.append_records([ProducerRecord(b"new", timestamp=now - 5000)] * 3)
    groups.commit_offsets("g", {("t", 0): 4})

    def plan(spec):
        return groups.plan_reset("g", "t", spec, [0])[0]

    assert plan(ResetSpec("earliest")).new_offset == 0
    assert plan(ResetSpec("latest")).new_offset == 6
    assert plan(ResetSpec("shift", -3)).new_offset == 1
    clamped = plan(ResetSpec("offset", 42))
    assert (clamped.new_offset, clamped.clamped, clamped.committed_offset) == (6, True, 4)
    assert plan(ResetSpec("datetime", now - 7000)).new_offset == 3
    assert groups.fetch_offsets("g")[("t", 0)].offset == 4  # planning changed nothing

    groups.execute_reset("g", [plan(ResetSpec("earliest"))])
    assert groups.fetch_offsets("g")[("t", 0)].offset == 0
    a = join(groups, "a")
    with pytest.raises(GroupNotEmpty, match="stop its consumers"):
        groups.execute_reset("g", [plan(ResetSpec("latest"))])
    assert groups.fetch_offsets("g")[("t", 0)].offset == 0
    groups.leave_group("g", a.member_id)


def _external_member():
    return MemberDescription("rdkafka-1", "rdkafka", "/127.0.0.1", None, ("t",), (("t", 0),), 0)


def test_groups_coordinated_by_serve_and_by_kcli_processes_exclude_each_other(groups, store):
    # A publisher that has exited: its snapshot shows as Empty and kcli may take the group.
    code = (
        "import sys\n"
        "from storage import Store\n"
        "from storage.groups import GroupStore, MemberDescription\n"
        "m = MemberDescription('rdkafka-1', 'rdkafka', '/127.0.0.1', None, ('t',), (('t', 0),), 0)\n"
        "GroupStore(Store(sys.argv[1])).publish_external('wire', state='Stable', generation=5,"
        " protocol_type='consumer', assignor='range', members=[m])\n"
    )
    subprocess.run([sys.executable, "-c", code, str(store.data_dir)], check=True)
    d = groups.describe_group("wire")
    assert (d.state, d.coordinator, d.members, d.generation) == ("Empty", "serve", (), 5)
    view = groups.join_group("wire", topics=["t"], client_id="k", session_timeout_ms=SESSION)
    assert view.generation == 6 and groups.describe_group("wire").coordinator == "kcli"

    # claim_external is refused while kcli members are live ...
    with pytest.raises(GroupProtocolMismatch, match="live kcli consumer"):
        groups.claim_external("wire")
    groups.leave_group("wire", view.member_id)
    # ... and a live publisher (this process) keeps kcli members out.
    groups.claim_external("wire")
    groups.publish_external(
        "wire",
        state="Stable",
        generation=7,
        protocol_type="consumer",
        assignor="range",
        members=[_external_member()],
    )
    d = groups.describe_group("wire")
    assert (d.state, d.coordinator, [m.member_id for m in d.members]) == (
        "Stable",
        "serve",
        ["rdkafka-1"],
    )
    assert d.members[0].pid is None
    with pytest.raises(GroupProtocolMismatch, match="kcli serve"):
        groups.join_group("wire", topics=["t"], client_id="k", session_timeout_ms=SESSION)
    # The coordinator itself may store offsets for its members.
    groups.commit_offsets("wire", {("t", 0): 1})
    assert (
        os.getpid()
        == json.loads((groups.group_path("wire") / "state.json").read_text())["external"]["pid"]
    )
