"""The cooperative protocol and static membership in the store's coordinator, with time moved
by hand (FakeClock): the rules first (storage.group_protocols), then GroupStore playing them on
real files."""

from __future__ import annotations

import pytest

from storage.assignors import Subscription
from storage.group_protocols import (
    COOPERATIVE,
    EAGER,
    incremental_change,
    member_protocol,
    rebalance_protocol,
    rejoin_changes_metadata,
    replace_static_member,
    static_member,
    subscriptions,
)
from storage.groups import FencedInstanceId, UnknownMemberId

from .helpers import (  # noqa: F401 - fake_clock, group_store, store_on_fake_clock: fixtures
    SESSION,
    fake_clock,
    group_store,
    join,
    store_on_fake_clock,
)

COOP = "cooperative-sticky"

# -- the rules ----------------------------------------------------------------------------------


def test_protocols_follow_the_assignors():
    assert rebalance_protocol(COOP) == COOPERATIVE
    assert rebalance_protocol("sticky") == EAGER
    assert member_protocol([COOP]) == COOPERATIVE
    assert member_protocol([COOP, "range"]) == EAGER
    assert member_protocol([]) == EAGER


def test_subscriptions_report_owned_partitions_and_their_generation():
    members = {
        "coop": {"topics": ["t"], "owned": [["t", 1]], "owned_generation": 4},
        "eager": {"topics": ["t"], "instance_id": "e-1"},
        "new": {"topics": ["t"]},
    }
    got = subscriptions(members, {"eager": [["t", 0]], "coop": [["t", 1], ["t", 2]]}, 5)
    assert got == {
        # What the member says it owns wins over what it was last given.
        "coop": Subscription(("t",), (("t", 1),), 4),
        "eager": Subscription(("t",), (("t", 0),), 5, "e-1"),
        "new": Subscription(("t",), (), -1),
    }


def test_a_rejoin_owning_less_changes_the_metadata():
    base = {"topics": ["t"], "assignors": [COOP], "owned": [["t", 0], ["t", 1]]}
    assert not rejoin_changes_metadata(base, {**base, "owned": [["t", 1], ["t", 0]]})
    assert rejoin_changes_metadata(base, {**base, "owned": [["t", 0]]})
    assert rejoin_changes_metadata(base, {**base, "topics": ["t", "u"]})
    assert not rejoin_changes_metadata(base, {k: v for k, v in base.items() if k != "owned"})


def test_a_static_member_takes_over_its_old_member_id():
    members = {"old": {"topics": ["t"], "assignors": ["range"], "instance_id": "i", "joined_ms": 7}}
    assignment = {"old": [["t", 0]]}
    assert static_member(members, "i") == "old"
    assert static_member(members, "other") is None
    assert static_member(members, None) is None
    record = {"topics": ["t"], "assignors": ["range"], "instance_id": "i"}
    assert not replace_static_member(members, assignment, "old", "new", record)
    assert list(members) == ["new"] and members["new"]["joined_ms"] == 7
    assert assignment == {"new": [["t", 0]]}
    changed = {"topics": ["t", "u"], "assignors": ["range"], "instance_id": "i"}
    assert replace_static_member(members, assignment, "new", "newer", changed)


def test_incremental_change():
    assert incremental_change([("t", 0), ("t", 1)], [("t", 1), ("t", 2)]) == (
        [("t", 0)],
        [("t", 2)],
    )


# -- the store's coordinator --------------------------------------------------------------------


def test_cooperative_join_takes_two_rounds_and_never_revokes_retained(groups):
    a = join(groups, "a", assignors=COOP)
    assert (a.generation, a.assignment) == (1, tuple(("t", p) for p in range(4)))
    b = join(groups, "b", assignors=COOP)
    assert b.group_state == "PreparingRebalance"
    view = groups.heartbeat("g", a.member_id)
    assert view.rejoin_needed
    # a keeps its partitions while it rejoins, and says so.
    a1 = join(
        groups, "a", member_id=a.member_id, assignors=COOP, owned=a.assignment, owned_generation=1
    )
    assert a1.generation == 2 and a1.group_state == "Stable"
    b1 = groups.heartbeat("g", b.member_id)
    # Round 1: the two partitions that move are revoked by a and given to nobody yet.
    assert len(a1.assignment) == 2 and set(a1.assignment) < set(a.assignment)
    assert b1.assignment == ()
    # a rejoins owning less: the follow-up rebalance.
    a2 = join(
        groups, "a", member_id=a.member_id, assignors=COOP, owned=a1.assignment, owned_generation=2
    )
    assert a2.group_state == "PreparingRebalance"
    assert groups.heartbeat("g", b.member_id).rejoin_needed
    b2 = join(groups, "b", member_id=b.member_id, assignors=COOP, owned=(), owned_generation=2)
    assert b2.generation == 3
    a3 = groups.heartbeat("g", a.member_id)
    # Round 2: a's retained partitions never left it; b gets the two that a revoked.
    assert a3.assignment == a1.assignment
    assert set(b2.assignment) == set(a.assignment) - set(a1.assignment)
    desc = groups.describe_group("g")
    assert desc.generation == 3 and desc.state == "Stable"
    assert desc.protocol == "cooperative"
    # What kcli group watch shows: round 1 revoked two of a's partitions, which waited;
    # round 2 gave them to b and revoked nothing.
    first, second = desc.rebalances[-2:]
    moved = tuple(sorted(set(a.assignment) - set(a1.assignment)))
    assert (first.generation, first.protocol) == (2, "cooperative")
    assert first.revoked == ((a.member_id, moved),) and first.waiting == moved
    assert first.added == ()
    assert (second.generation, second.revoked, second.waiting) == (3, (), ())
    assert second.added == ((b.member_id, moved),)


def test_an_eager_rebalance_revokes_everything(groups):
    a = join(groups, "a", assignors="sticky")
    b = join(groups, "b", assignors="sticky")
    join(groups, "a", member_id=a.member_id, assignors="sticky")
    desc = groups.describe_group("g")
    assert desc.protocol == "eager"
    last = desc.rebalances[-1]
    assert last.revoked == ((a.member_id, a.assignment),)
    assert dict(last.added)[b.member_id] and last.waiting == ()


def test_cooperative_members_may_commit_while_the_group_rebalances(groups):
    a = join(groups, "a", assignors=COOP)
    join(groups, "b", assignors=COOP)
    groups.commit_offsets("g", {("t", 0): 3}, generation=a.generation, member_id=a.member_id)
    assert groups.fetch_offsets("g", [("t", 0)])[("t", 0)].offset == 3


def test_a_static_member_restart_keeps_its_partitions_and_the_generation(groups, clock):
    a = join(groups, "a", instance_id="a-1")
    b = join(groups, "b", instance_id="b-1")
    join(groups, "a", member_id=a.member_id, instance_id="a-1")
    b1 = groups.heartbeat("g", b.member_id)
    before = groups.describe_group("g")
    assert before.state == "Stable"
    mine = next(m.assignment for m in before.members if m.member_id == a.member_id)
    clock.advance(SESSION - 500)  # a is gone, but not for a whole session
    groups.heartbeat("g", b.member_id)
    again = join(groups, "a", instance_id="a-1")
    assert again.member_id != a.member_id
    assert (again.group_state, again.generation, again.assignment) == (
        "Stable",
        before.generation,
        mine,
    )
    assert not groups.heartbeat("g", b.member_id).rejoin_needed
    assert groups.heartbeat("g", b.member_id).assignment == b1.assignment
    desc = groups.describe_group("g")
    assert {m.group_instance_id: m.member_id for m in desc.members} == {
        "a-1": again.member_id,
        "b-1": b.member_id,
    }
    # The old member id is fenced, not merely unknown.
    with pytest.raises(FencedInstanceId, match="a-1"):
        groups.heartbeat("g", a.member_id, instance_id="a-1")
    with pytest.raises(FencedInstanceId):
        groups.commit_offsets(
            "g",
            {("t", 0): 1},
            generation=before.generation,
            member_id=a.member_id,
            instance_id="a-1",
        )
    with pytest.raises(UnknownMemberId):
        groups.heartbeat("g", a.member_id)


def test_a_static_member_that_never_comes_back_expires(groups, clock):
    a = join(groups, "a", instance_id="a-1")
    b = join(groups, "b", instance_id="b-1")
    join(groups, "a", member_id=a.member_id, instance_id="a-1")
    generation = groups.heartbeat("g", b.member_id).generation
    clock.advance(SESSION - 1000)
    groups.heartbeat("g", b.member_id)
    clock.advance(1001)
    assert groups.heartbeat("g", b.member_id).rejoin_needed
    b2 = join(groups, "b", member_id=b.member_id, instance_id="b-1")
    assert b2.generation == generation + 1
    assert b2.assignment == tuple(("t", p) for p in range(4))


def test_static_leave_is_not_sent_on_close_but_a_leave_still_removes(groups):
    a = join(groups, "a", instance_id="a-1")
    groups.leave_group("g", a.member_id)
    assert groups.describe_group("g").members == ()


def test_an_empty_group_instance_id_is_refused(tmp_path):
    from kcli import Consumer
    from kcli.client.types import KafkaError, KafkaException

    with pytest.raises(KafkaException) as info:
        Consumer({"data.dir": str(tmp_path), "group.id": "g", "group.instance.id": " "})
    assert info.value.args[0].code() == KafkaError._INVALID_ARG
    assert "group.instance.id" in str(info.value)
