"""The assignors give Kafka's results: the expected assignments below are those asserted by
Kafka's own RangeAssignorTest, RoundRobinAssignorTest, AbstractStickyAssignorTest and
CooperativeStickyAssignorTest (same member ids, topics, previously owned partitions and
generations); the cooperative cases also play out the follow-up rebalances as Kafka's
CooperativeStickyAssignorTest does.  Properties cover the rest.  Not ported: the rack-aware
cases (kcli has no racks) and the userData encodings (kcli passes the generation as a field)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.assignor_simulation import moved_partitions, simulate
from storage.assignor_sticky import cooperative_sticky_assign, sticky_assignment
from storage.assignors import (
    Subscription,
    UnknownAssignor,
    assign,
    is_cooperative,
    parse_strategy,
    revoked_partitions,
    select_protocol,
)
from storage.java_hash_order import java_hashmap_order, java_string_hash

T, T1, T2 = "topic", "topic1", "topic2"
C1, C2, C3, C4 = "consumer1", "consumer2", "consumer3", "consumer4"


def sub(*topics, owned=()):
    return Subscription(tuple(topics), tuple(owned))


def tps(*pairs):
    return sorted(pairs)


# -- the example and Kafka's test cases --------------------------------------------


def test_four_partitions_three_members_as_in_kafka():
    subs = {m: sub(T) for m in ("C0", "C1", "C2")}
    assert assign("range", {T: 4}, subs) == {
        "C0": [(T, 0), (T, 1)],
        "C1": [(T, 2)],
        "C2": [(T, 3)],
    }
    assert assign("roundrobin", {T: 4}, subs) == {
        "C0": [(T, 0), (T, 3)],
        "C1": [(T, 1)],
        "C2": [(T, 2)],
    }


def test_range_kafka_cases():
    # RangeAssignorTest.testTwoConsumersOneTopicOnePartition: the second member idles.
    assert assign("range", {T1: 1}, {C1: sub(T1), C2: sub(T1)}) == {C1: [(T1, 0)], C2: []}
    # testMultipleConsumersMixedTopics
    got = assign("range", {T1: 3, T2: 2}, {C1: sub(T1), C2: sub(T1, T2), C3: sub(T1)})
    assert got == {C1: [(T1, 0)], C2: tps((T1, 1), (T2, 0), (T2, 1)), C3: [(T1, 2)]}
    # testTwoConsumersTwoTopicsSixPartitions: per topic, the first member gets the extra one.
    got = assign("range", {T1: 3, T2: 3}, {C1: sub(T1, T2), C2: sub(T1, T2)})
    assert got == {C1: tps((T1, 0), (T1, 1), (T2, 0), (T2, 1)), C2: tps((T1, 2), (T2, 2))}


def test_roundrobin_kafka_cases():
    # RoundRobinAssignorTest.testMultipleConsumersMixedTopics
    got = assign("roundrobin", {T1: 3, T2: 2}, {C1: sub(T1), C2: sub(T1, T2), C3: sub(T1)})
    assert got == {C1: [(T1, 0)], C2: tps((T1, 1), (T2, 0), (T2, 1)), C3: [(T1, 2)]}
    # testTwoDynamicConsumersTwoTopicsSixPartitions
    got = assign("roundrobin", {T1: 3, T2: 3}, {C1: sub(T1, T2), C2: sub(T1, T2)})
    assert got == {C1: tps((T1, 0), (T1, 2), (T2, 1)), C2: tps((T1, 1), (T2, 0), (T2, 2))}
    # testOnlyAssignsPartitionsFromSubscribedTopics
    assert assign("roundrobin", {T: 3, "other": 3}, {"consumer": sub(T)}) == {
        "consumer": [(T, 0), (T, 1), (T, 2)]
    }


@pytest.mark.parametrize("name", ["sticky", "cooperative-sticky"])
def test_sticky_kafka_cases(name):
    """Cases where nothing moves between members, so both sticky assignors agree."""
    # AbstractStickyAssignorTest.testTwoConsumersTwoTopicsSixPartitions
    got = assign(name, {T1: 3, T2: 3}, {C1: sub(T1, T2), C2: sub(T1, T2)})
    assert got == {C1: tps((T1, 0), (T1, 2), (T2, 1)), C2: tps((T1, 1), (T2, 0), (T2, 2))}
    # testConsumerOwningMinQuotaExpectedMaxQuota
    got = assign(
        name,
        {T1: 2, T2: 3},
        {C1: sub(T1, T2, owned=[(T1, 0), (T2, 1)]), C2: sub(T1, T2, owned=[(T1, 1), (T2, 2)])},
    )
    assert got == {C1: tps((T1, 0), (T2, 1), (T2, 0)), C2: tps((T1, 1), (T2, 2))}
    # testAllConsumersAreUnderMinQuota
    got = assign(
        name,
        {T1: 2, T2: 3},
        {C1: sub(T1, T2, owned=[(T1, 0)]), C2: sub(T1, T2, owned=[(T1, 1)]), C3: sub(T1, T2)},
    )
    assert got == {C1: tps((T1, 0), (T2, 1)), C2: tps((T1, 1), (T2, 2)), C3: [(T2, 0)]}
    # testMultipleConsumersMixedTopicSubscriptions (the general algorithm)
    got = assign(name, {T1: 3, T2: 2}, {C1: sub(T1), C2: sub(T1, T2), C3: sub(T1)})
    assert got == {C1: tps((T1, 0), (T1, 2)), C2: tps((T2, 0), (T2, 1)), C3: [(T1, 1)]}


def test_sticky_max_quota_owners_like_kafka():
    # testMaxQuotaConsumerMoreThanNumExpectedMaxCapacityMembers: which of two equal previous
    # owners keeps the extra partition follows Java's HashMap order (consumer2 first).
    got = assign(
        "sticky",
        {T1: 2, T2: 2},
        {
            C1: sub(T1, T2, owned=[(T1, 0), (T2, 0)]),
            C2: sub(T1, T2, owned=[(T1, 1), (T2, 1)]),
            C3: sub(T1, T2),
        },
    )
    assert got == {C1: [(T1, 0)], C2: tps((T1, 1), (T2, 1)), C3: [(T2, 0)]}


def test_sticky_add_and_remove_consumers_like_kafka():
    # AbstractStickyAssignorTest.testAddRemoveTwoConsumersTwoTopics
    both = (T1, T2)
    first = assign("sticky", {T1: 3, T2: 4}, {C1: sub(*both), C2: sub(*both)})
    assert first == {
        C1: tps((T1, 0), (T1, 2), (T2, 1), (T2, 3)),
        C2: tps((T1, 1), (T2, 0), (T2, 2)),
    }
    second = assign(
        "sticky",
        {T1: 3, T2: 4},
        {
            C1: sub(*both, owned=first[C1]),
            C2: sub(*both, owned=first[C2]),
            C3: sub(*both),
            C4: sub(*both),
        },
    )
    assert second == {
        C1: tps((T1, 0), (T2, 1)),
        C2: tps((T1, 1), (T2, 0)),
        C3: tps((T1, 2), (T2, 3)),
        C4: [(T2, 2)],
    }
    third = assign(
        "sticky",
        {T1: 3, T2: 4},
        {C3: sub(*both, owned=second[C3]), C4: sub(*both, owned=second[C4])},
    )
    assert third == {
        C3: tps((T1, 2), (T2, 3), (T1, 0), (T2, 1)),
        C4: tps((T2, 2), (T1, 1), (T2, 0)),
    }


def test_java_hash_order_matches_javas():
    assert java_string_hash("consumer1") == -421004549  # "consumer1".hashCode() in Java
    assert java_string_hash("") == 0
    assert java_hashmap_order([C1, C2, C3, C4]) == [C4, C3, C2, C1]


# -- properties -------------------------------------------------------------------------------

members_st = st.lists(
    st.text(alphabet="abcxyz-0123456789", min_size=1, max_size=8),
    min_size=1,
    max_size=8,
    unique=True,
)
topics_st = st.dictionaries(
    st.sampled_from(["t0", "t1", "t2", "a", "zz"]), st.integers(0, 9), min_size=1
)


@settings(max_examples=60, deadline=None)
@given(members=members_st, counts=topics_st, data=st.data())
def test_range_matches_kafka_python(members, counts, data):
    """kafka-python's RangePartitionAssignor is an independent port of Kafka's."""
    from kafka.coordinator.assignors.range import RangePartitionAssignor

    subs = {
        m: sub(*data.draw(st.lists(st.sampled_from(sorted(counts)), min_size=1, unique=True)))
        for m in members
    }
    cluster = SimpleNamespace(partitions_for_topic=lambda t: set(range(counts[t])) or None)
    theirs = RangePartitionAssignor.assign(
        cluster,
        [
            SimpleNamespace(
                member_id=m, group_instance_id=None, metadata=SimpleNamespace(topics=list(s.topics))
            )
            for m, s in subs.items()
        ],
    )
    expected = {
        m: sorted((t, p) for t, ps in a.assigned_partitions for p in ps) for m, a in theirs.items()
    }
    assert assign("range", counts, subs) == expected


@settings(max_examples=50, deadline=None)
@given(members=members_st, counts=topics_st)
def test_roundrobin_deals_sorted_partitions_in_member_id_order(members, counts):
    subs = {m: sub(*counts) for m in members}
    got = assign("roundrobin", counts, subs)
    order = sorted(members)
    partitions = [(t, p) for t in sorted(counts) for p in range(counts[t])]
    for i, tp in enumerate(partitions):
        assert tp in got[order[i % len(order)]]


@settings(max_examples=100, deadline=None)
@given(members=members_st, counts=topics_st, data=st.data())
def test_sticky_is_valid_balanced_and_keeps_what_it_can(members, counts, data):
    topics = tuple(counts)
    total = sum(counts.values())
    first = assign("sticky", counts, {m: sub(*topics) for m in members})
    owners = [tp for tps_ in first.values() for tp in tps_]
    assert sorted(owners) == sorted((t, p) for t in counts for p in range(counts[t]))
    sizes = [len(v) for v in first.values()]
    assert max(sizes) - min(sizes) <= 1

    # Someone leaves and someone joins: survivors keep their partitions up to the new quota.
    leaving = data.draw(st.sampled_from(members))
    group = [m for m in members if m != leaving] + ["zzzz-new"]
    second = assign("sticky", counts, {m: sub(*topics, owned=first.get(m, ())) for m in group})
    quota = -(-total // len(group))
    for m in group:
        kept = set(first.get(m, ())) & set(second[m])
        assert len(kept) >= min(len(first.get(m, ())), total // len(group)), m
        assert len(second[m]) <= quota
    sizes = [len(v) for v in second.values()]
    assert max(sizes) - min(sizes) <= 1


@settings(max_examples=60, deadline=None)
@given(members=members_st, counts=topics_st, data=st.data())
def test_sticky_general_case_is_valid(members, counts, data):
    """Members with different subscriptions: every subscribed partition has exactly one owner,
    and only a member subscribed to its topic."""
    subs = {
        m: sub(*data.draw(st.lists(st.sampled_from(sorted(counts)), min_size=1, unique=True)))
        for m in members
    }
    got = assign("sticky", counts, subs)
    wanted = {(t, p) for s in subs.values() for t in s.topics for p in range(counts[t])}
    owned = [tp for v in got.values() for tp in v]
    assert sorted(owned) == sorted(wanted)
    for m, v in got.items():
        assert all(t in subs[m].topics for t, _p in v)


# -- cooperative-sticky and generations: CooperativeStickyAssignorTest and the cooperative
# rounds of AbstractStickyAssignorTest ------------------------------------------------------

GEN = 1  # AbstractStickyAssignorTest.generationId


def gsub(*topics, owned=(), generation=GEN):
    """A subscription as ``buildSubscriptionV2Above``: owned partitions and their generation."""
    return Subscription(tuple(topics), tuple(owned), generation)


def coop(counts, subs):
    return cooperative_sticky_assign(counts, subs)


def check_valid_and_balanced(subs, assignment, counts):
    """AbstractStickyAssignorTest.verifyValidityAndBalance: every partition with at most one
    owner that subscribes to its topic; two members 2+ partitions apart share no topic."""
    assert set(assignment) == set(subs)
    members = sorted(assignment)
    for i, m in enumerate(members):
        assert all(t in subs[m].topics for t, _p in assignment[m]), (m, assignment)
        for other in members[i + 1 :]:
            assert not set(assignment[m]) & set(assignment[other]), (m, other, assignment)
            if abs(len(assignment[m]) - len(assignment[other])) <= 1:
                continue
            mine = {t for t, _p in assignment[m]}
            theirs = {t for t, _p in assignment[other]}
            assert not mine & theirs, ("could move a partition", m, other, assignment)


def cooperative_rounds(counts, subs, assignment):
    """CooperativeStickyAssignorTest.verifyValidityAndBalance: while a round revokes anything,
    no partition may be revoked and added in that same round, and the members rejoin owning
    what they were given; at most 4 follow-up rebalances reach a valid, balanced assignment.

    Returns the final assignment and the subscriptions of its round.
    """
    subs = dict(subs)
    for _round in range(5):
        revoked = {tp for tps_ in revoked_partitions(subs, assignment).values() for tp in tps_}
        added = {
            tp for m, tps_ in assignment.items() for tp in tps_ if tp not in set(subs[m].owned)
        }
        assert not revoked & added, f"revoked and assigned in one round: {revoked & added}"
        if not revoked:
            check_valid_and_balanced(subs, assignment, counts)
            return assignment, subs
        subs = {m: gsub(*subs[m].topics, owned=assignment[m]) for m in subs}
        assignment = assign("cooperative-sticky", counts, subs)
    raise AssertionError("no balanced assignment after 4 follow-up rebalances")


def balanced(assignment):
    sizes = [len(v) for v in assignment.values()]
    return max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("partitions, c1_first", [(3, [(T, 1)]), (4, [(T, 1), (T, 3)])])
def test_partition_claimed_twice_in_one_generation_waits_for_both_to_revoke(partitions, c1_first):
    # CooperativeStickyAssignorTest.testAllConsumersHaveOwnedPartitionInvalidatedWhenClaimed-
    # ByMultipleConsumersInSameGenerationWith{Equal,Unequal}PartitionsPerConsumer
    counts = {T: partitions}
    subs = {
        C1: gsub(T, owned=[(T, 0), (T, 1)]),
        C2: gsub(T, owned=[(T, 0), (T, 2)]),
        C3: gsub(T),
    }
    got = coop(counts, subs)
    assert got.assignment == {C1: c1_first, C2: [(T, 2)], C3: []}
    assert got.transferring == {(T, 0): C3}
    final, _ = cooperative_rounds(counts, subs, got.assignment)
    assert (T, 0) in final[C3]
    assert balanced(final)


def test_partition_claimed_twice_transfers_as_kafka():
    # AbstractStickyAssignorTest.testPartitionsTransferringOwnershipIncludeThePartition-
    # ClaimedByMultipleConsumersInSameGeneration: the eager assignor hands topic-0 over at
    # once; the cooperative one holds it back a round.
    counts = {T: 3}
    subs = {
        C1: gsub(T, owned=[(T, 0), (T, 1)]),
        C2: gsub(T, owned=[(T, 0), (T, 2)]),
        C3: gsub(T),
    }
    eager = sticky_assignment(counts, subs)
    assert eager.assignment == {C1: [(T, 1)], C2: [(T, 2)], C3: [(T, 0)]}
    assert eager.transferring == {(T, 0): C3}
    final, _ = cooperative_rounds(counts, subs, assign("cooperative-sticky", counts, subs))
    assert final == {C1: [(T, 1)], C2: [(T, 2)], C3: [(T, 0)]}


def test_add_and_remove_consumer_one_topic_in_two_rounds():
    # AbstractStickyAssignorTest.testAddRemoveConsumerOneTopic, cooperative rounds
    counts = {T: 3}
    first = assign("cooperative-sticky", counts, {C1: gsub(T, generation=-1)})
    assert first == {C1: [(T, 0), (T, 1), (T, 2)]}
    subs = {C1: gsub(T, owned=first[C1]), C2: gsub(T)}
    got = coop(counts, subs)
    assert got.transferring == {(T, 2): C2}
    # Round 1: consumer1 keeps 0 and 1 and revokes 2, which nobody gets yet.
    assert got.assignment == {C1: [(T, 0), (T, 1)], C2: []}
    assert revoked_partitions(subs, got.assignment) == {C1: [(T, 2)]}
    final, _ = cooperative_rounds(counts, subs, got.assignment)
    assert final == {C1: [(T, 0), (T, 1)], C2: [(T, 2)]}
    # consumer1 leaves: its partitions had no other owner, so they move at once.
    alone = coop(counts, {C2: gsub(T, owned=final[C2])})
    assert alone.assignment == {C2: [(T, 0), (T, 1), (T, 2)]}
    assert alone.transferring == {}


def test_add_and_remove_two_consumers_two_topics_in_two_rounds():
    # AbstractStickyAssignorTest.testAddRemoveTwoConsumersTwoTopics, cooperative rounds
    both = (T1, T2)
    counts = {T1: 3, T2: 4}
    first = coop(counts, {C1: gsub(*both, generation=-1), C2: gsub(*both, generation=-1)})
    assert first.transferring == {}
    subs = {
        C1: gsub(*both, owned=first.assignment[C1]),
        C2: gsub(*both, owned=first.assignment[C2]),
        C3: gsub(*both),
        C4: gsub(*both),
    }
    got = coop(counts, subs)
    assert got.transferring == {(T1, 2): C3, (T2, 3): C3, (T2, 2): C4}
    assert got.assignment == {C1: tps((T1, 0), (T2, 1)), C2: tps((T1, 1), (T2, 0)), C3: [], C4: []}
    final, subs = cooperative_rounds(counts, subs, got.assignment)
    assert final == {
        C1: tps((T1, 0), (T2, 1)),
        C2: tps((T1, 1), (T2, 0)),
        C3: tps((T1, 2), (T2, 3)),
        C4: [(T2, 2)],
    }
    left = coop(counts, {C3: gsub(*both, owned=final[C3]), C4: gsub(*both, owned=final[C4])})
    assert left.transferring == {}
    assert left.assignment == {
        C3: tps((T1, 2), (T2, 3), (T1, 0), (T2, 1)),
        C4: tps((T2, 2), (T1, 1), (T2, 0)),
    }


def test_max_quota_owner_revokes_before_the_newcomer_gets_it():
    # AbstractStickyAssignorTest.testMaxQuotaConsumerMoreThanNumExpectedMaxCapacityMembers
    counts = {T1: 2, T2: 2}
    subs = {
        C1: gsub(T1, T2, owned=[(T1, 0), (T2, 0)]),
        C2: gsub(T1, T2, owned=[(T1, 1), (T2, 1)]),
        C3: gsub(T1, T2),
    }
    got = coop(counts, subs)
    assert got.transferring == {(T2, 0): C3}
    assert got.assignment == {C1: [(T1, 0)], C2: tps((T1, 1), (T2, 1)), C3: []}
    final, _ = cooperative_rounds(counts, subs, got.assignment)
    assert final == {C1: [(T1, 0)], C2: tps((T1, 1), (T2, 1)), C3: [(T2, 0)]}


@pytest.mark.parametrize("name", ["sticky", "cooperative-sticky"])
@pytest.mark.parametrize("c2_generation", [9, -1])
def test_claims_of_an_older_generation_are_invalidated(name, c2_generation):
    # testOwnedPartitionsAreInvalidatedForConsumerWithStaleGeneration / ...WithNoGeneration
    counts = {T: 3, T2: 3}
    claims = [(T, 0), (T, 2), (T2, 1)]
    subs = {
        C1: gsub(T, T2, owned=claims, generation=10),
        C2: gsub(T, T2, owned=claims, generation=c2_generation),
    }
    result = sticky_assignment(counts, subs)
    assert result.transferring == {}
    got = assign(name, counts, subs)
    assert got == {C1: tps(*claims), C2: tps((T, 1), (T2, 0), (T2, 2))}
    if name == "cooperative-sticky":
        assert cooperative_rounds(counts, subs, got)[0] == got


@pytest.mark.parametrize("name", ["sticky", "cooperative-sticky"])
def test_partitions_go_to_the_highest_generation(name):
    # testEnsurePartitionsAssignedToHighestGeneration
    topics = (T, T2, "topic3")
    counts = dict.fromkeys(topics, 3)
    subs = {
        C1: gsub(*topics, owned=[(T, 0), (T2, 0), ("topic3", 0)], generation=10),
        C2: gsub(*topics, owned=[(T, 1), (T2, 1), ("topic3", 1)], generation=9),
        C3: gsub(*topics, owned=[(T2, 1), ("topic3", 0), ("topic3", 2)], generation=8),
    }
    assert sticky_assignment(counts, subs).transferring == {}
    got = assign(name, counts, subs)
    assert got == {
        C1: tps((T, 0), (T2, 0), ("topic3", 0)),
        C2: tps((T, 1), (T2, 1), ("topic3", 1)),
        C3: tps((T, 2), (T2, 2), ("topic3", 2)),
    }


@pytest.mark.parametrize("name", ["sticky", "cooperative-sticky"])
def test_no_reassignment_of_current_members_of_older_generations(name):
    # testNoReassignmentOnCurrentMembers: each claim is the only one, whatever its generation.
    topics = (T, T2, "topic3", T1)
    counts = dict.fromkeys(topics, 3)
    subs = {
        C1: gsub(*topics, generation=-1),
        C2: gsub(*topics, owned=[(T, 0), (T2, 0), (T1, 0)], generation=9),
        C3: gsub(*topics, owned=[("topic3", 2), (T2, 2), (T1, 1)], generation=8),
        C4: gsub(*topics, owned=[("topic3", 1), (T, 1), (T, 2)], generation=7),
    }
    assert sticky_assignment(counts, subs).transferring == {}
    got = assign(name, counts, subs)
    assert got[C1] == tps((T1, 2), (T2, 1), ("topic3", 0))
    for m in (C2, C3, C4):
        assert got[m] == sorted(subs[m].owned)


@pytest.mark.parametrize("name", ["sticky", "cooperative-sticky"])
def test_claims_in_several_generations(name):
    # testOwnedPartitionsAreInvalidatedForConsumerWithMultipleGeneration
    counts = {T: 3, T2: 3}
    subs = {
        C1: gsub(T, T2, owned=[(T, 0), (T2, 1), (T, 1)], generation=10),
        C2: gsub(T, T2, owned=[(T, 0), (T2, 1), (T2, 2)], generation=8),
    }
    assert sticky_assignment(counts, subs).transferring == {}
    assert assign(name, counts, subs) == {
        C1: tps((T, 0), (T2, 1), (T, 1)),
        C2: tps((T, 2), (T2, 2), (T2, 0)),
    }


@pytest.mark.parametrize("name", ["sticky", "cooperative-sticky"])
def test_all_members_reach_their_quota(name):
    # testAllConsumersReachExpectedQuotaAndAreConsideredFilled
    counts = {T: 4}
    subs = {C1: gsub(T, owned=[(T, 0), (T, 1)]), C2: gsub(T, owned=[(T, 2)]), C3: gsub(T)}
    assert sticky_assignment(counts, subs).transferring == {}
    assert assign(name, counts, subs) == {C1: [(T, 0), (T, 1)], C2: [(T, 2)], C3: [(T, 3)]}


@pytest.mark.parametrize("name", ["sticky", "cooperative-sticky"])
def test_unequal_subscriptions_claiming_one_partition_in_three_generations(name):
    # testSubscriptionNotEqualAndAssignSamePartitionWith3Generation (the general algorithm)
    counts = {T: 6, T1: 1}
    for g1, g2, g3 in [(1, 2, 3), (1, 3, 2), (2, 1, 3), (2, 3, 1), (3, 1, 2), (3, 2, 1)]:
        subs = {
            C1: gsub(T, owned=[(T, 0), (T, 2)], generation=g1),
            C2: gsub(T, owned=[(T, 1), (T, 2), (T, 3)], generation=g2),
            C3: gsub(T, owned=[(T, 2), (T, 4), (T, 5)], generation=g3),
            C4: gsub(T1, owned=[(T1, 0)], generation=2),
        }
        got = assign(name, counts, subs)
        flat = [tp for v in got.values() for tp in v]
        assert len(flat) == len(set(flat))
        if name == "sticky":
            assert all(1 <= len(v) <= 2 for v in got.values()), got
        else:
            cooperative_rounds(counts, subs, got)


def test_general_algorithm_leaves_transfers_to_the_cooperative_assignor():
    # testMoveExistingAssignments: no partitionsTransferringOwnership from the general builder
    counts = {f"topic{i}": 1 for i in range(1, 7)}
    subs = {
        C1: gsub("topic1", "topic2", owned=[("topic1", 0)]),
        C2: gsub("topic1", "topic2", "topic3", "topic4", owned=[("topic2", 0), ("topic3", 0)]),
        C3: gsub(
            "topic2",
            "topic3",
            "topic4",
            "topic5",
            "topic6",
            owned=[("topic4", 0), ("topic5", 0), ("topic6", 0)],
        ),
    }
    assert sticky_assignment(counts, subs).transferring is None
    got = coop(counts, subs)
    cooperative_rounds(counts, subs, got.assignment)


def test_partitions_of_a_member_that_left_move_at_once():
    # testStickiness, cooperative: the leaver's partition has no owner left to revoke it.
    counts = {T1: 3}
    first = assign(
        "cooperative-sticky", counts, {m: gsub(T1, generation=-1) for m in (C1, C2, C3, C4)}
    )
    assert sorted(len(v) for v in first.values()) == [0, 1, 1, 1]
    subs = {m: gsub(T1, owned=first[m]) for m in (C2, C3, C4)}
    got = coop(counts, subs)
    assert got.transferring == {}
    for m in (C2, C3, C4):
        assert len(got.assignment[m]) == 1
        assert set(first[m]) <= set(got.assignment[m])


def test_a_new_topic_is_assigned_without_revoking():
    # testAddRemoveTopicTwoConsumers, cooperative
    first = coop({T: 3}, {C1: gsub(T, generation=-1), C2: gsub(T, generation=-1)})
    counts = {T: 3, T2: 3}
    subs = {m: gsub(T, T2, owned=first.assignment[m]) for m in (C1, C2)}
    got = coop(counts, subs)
    assert got.transferring == {}
    assert revoked_partitions(subs, got.assignment) == {}
    assert [len(v) for v in got.assignment.values()] == [3, 3]
    # topic deleted: its partitions simply disappear, nothing is handed over
    subs = {m: gsub(T2, owned=got.assignment[m]) for m in (C1, C2)}
    third = coop({T2: 3}, subs)
    assert third.transferring == {}
    for m in (C1, C2):
        assert set(third.assignment[m]) <= set(got.assignment[m])


@pytest.mark.parametrize(
    "counts, subs",
    [
        # testTopicBalanceAfterReassignment: 1 -> 2 -> 4 members over 2 x 12 partitions
        ({T1: 12, T2: 12}, None),
        # testPoorRoundRobinAssignmentScenario
        (
            {"topic1": 2, "topic2": 1, "topic3": 2, "topic4": 1, "topic5": 2},
            {
                C1: ("topic1", "topic2", "topic3", "topic4", "topic5"),
                C2: ("topic1", "topic3", "topic5"),
                C3: ("topic1", "topic3", "topic5"),
                C4: ("topic1", "topic2", "topic3", "topic4", "topic5"),
            },
        ),
    ],
)
def test_cooperative_rounds_stay_valid(counts, subs):
    if subs is None:
        both = tuple(counts)
        owned = {}
        for group in ([C1], [C1, C2], [C1, C2, C3, C4]):
            s = {m: gsub(*both, owned=owned.get(m, ())) for m in group}
            owned, _ = cooperative_rounds(counts, s, assign("cooperative-sticky", counts, s))
            per = 12 // len(group)
            for m in group:
                assert sum(1 for t, _p in owned[m] if t == T1) == per
                assert sum(1 for t, _p in owned[m] if t == T2) == per
        return
    s = {m: gsub(*topics, generation=-1) for m, topics in subs.items()}
    cooperative_rounds(counts, s, assign("cooperative-sticky", counts, s))


@settings(max_examples=60, deadline=None)
@given(members=members_st, counts=topics_st, data=st.data())
def test_cooperative_never_gives_a_partition_still_owned(members, counts, data):
    """testReassignmentWithRandomSubscriptionsAndChanges, cooperative: random subscriptions,
    then new random subscriptions with the partitions owned; every round is cooperative-valid
    and the follow-ups converge to a valid, balanced assignment."""
    topics = sorted(counts)

    def draw_subs(owned):
        return {
            m: gsub(
                *data.draw(st.lists(st.sampled_from(topics), min_size=1, unique=True)),
                owned=owned.get(m, ()),
            )
            for m in members
        }

    subs = draw_subs({})
    first, _ = cooperative_rounds(counts, subs, assign("cooperative-sticky", counts, subs))
    subs = draw_subs(first)
    final, subs = cooperative_rounds(counts, subs, assign("cooperative-sticky", counts, subs))
    wanted = {(t, p) for s in subs.values() for t in s.topics for p in range(counts[t])}
    assert sorted(tp for v in final.values() for tp in v) == sorted(wanted)


def test_static_members_keep_their_range_and_roundrobin_partitions():
    # RangeAssignorTest / RoundRobinAssignorTest.testStaticMember...AssignmentPersistent:
    # static members sort by group.instance.id, before the dynamic ones.
    def static(instance):
        return Subscription((T1, T2), group_instance_id=instance)

    subs = {C1: static("instance1"), C2: static("instance2"), C3: static("instance3")}
    expected = {
        C1: tps((T1, 0), (T1, 1), (T2, 0)),
        C2: tps((T1, 2), (T2, 1)),
        C3: tps((T1, 3), (T2, 2)),
    }
    got = assign("range", {T1: 5, T2: 4}, {**subs, C4: sub(T1, T2)})
    assert got == {**expected, C4: tps((T1, 4), (T2, 3))}
    got = assign("range", {T1: 5, T2: 4}, {**subs, "consumer5": sub(T1, T2)})
    assert got == {**expected, "consumer5": tps((T1, 4), (T2, 3))}

    got = assign("roundrobin", {T1: 3, T2: 3}, {**subs, C4: sub(T1, T2)})
    assert got == {
        C1: tps((T1, 0), (T2, 1)),
        C2: tps((T1, 1), (T2, 2)),
        C3: [(T1, 2)],
        C4: [(T2, 0)],
    }
    # New member ids for the same instances (a restart): the same partitions per instance.
    by_instance = assign("roundrobin", {T1: 5, T2: 5}, subs)
    swapped = {"zz-new-1": subs[C3], "aa-new-2": subs[C2], C1: subs[C1]}
    again = assign("roundrobin", {T1: 5, T2: 5}, swapped)
    assert again["zz-new-1"] == by_instance[C3]
    assert again["aa-new-2"] == by_instance[C2]
    assert by_instance[C1] == tps((T1, 0), (T1, 3), (T2, 1), (T2, 4))


def test_cooperative_protocol_names():
    assert is_cooperative("cooperative-sticky")
    assert not any(is_cooperative(n) for n in ("range", "roundrobin", "sticky"))


# -- protocol selection and the simulation --------------------------------------------------


def test_select_protocol_as_kafkas_coordinator():
    assert select_protocol({"a": ["range", "roundrobin"], "b": ["roundrobin", "range"]}) == "range"
    assert select_protocol({"a": ["sticky", "range"], "b": ["range"], "c": ["range"]}) == "range"
    assert select_protocol({"a": ["sticky"], "b": ["range"]}) is None


def test_parse_strategy():
    assert parse_strategy("range, RoundRobin") == ("range", "roundrobin")
    with pytest.raises(UnknownAssignor, match="use one or more of"):
        parse_strategy("fair")


def test_simulation_counts_moves():
    by_name = {r.assignor: r for r in simulate(4, 2)}
    assert by_name["range"].after_join["consumer-2"] == [("t0", 3)]
    assert by_name["range"].moved_on_join == 1
    assert by_name["roundrobin"].moved_on_join == 2  # roundrobin reshuffles
    assert by_name["sticky"].moved_on_join == 1
    # Then consumer-0 leaves the three: its partitions must move; range also moves others'.
    assert set(by_name["sticky"].after_leave) == {"consumer-1", "consumer-2"}
    assert by_name["sticky"].moved_on_leave == by_name["sticky"].min_moves_on_leave == 1
    assert by_name["range"].moved_on_leave == 3 and by_name["range"].min_moves_on_leave == 2
    for r in by_name.values():  # what had to move never exceeds what moved
        assert r.min_moves_on_join <= r.moved_on_join
        assert r.min_moves_on_leave <= r.moved_on_leave
    assert moved_partitions({"a": [("t", 0)]}, {"b": [("t", 0)]}) == 1
