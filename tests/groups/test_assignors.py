"""The assignors give Kafka's results: the expected assignments below are those asserted by
Kafka's own RangeAssignorTest, RoundRobinAssignorTest and AbstractStickyAssignorTest (same
member ids, topics and previously owned partitions); properties cover the rest."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.assignors import (
    Subscription,
    UnknownAssignor,
    assign,
    java_hashmap_order,
    java_string_hash,
    moved_partitions,
    parse_strategy,
    select_protocol,
    simulate,
)

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
    # testMaxQuotaConsumerMoreThanNumExpectedMaxCapacityMembers: which of two equal previous
    # owners keeps the extra partition follows Java's HashMap order (consumer2 first).
    got = assign(
        name,
        {T1: 2, T2: 2},
        {
            C1: sub(T1, T2, owned=[(T1, 0), (T2, 0)]),
            C2: sub(T1, T2, owned=[(T1, 1), (T2, 1)]),
            C3: sub(T1, T2),
        },
    )
    assert got == {C1: [(T1, 0)], C2: tps((T1, 1), (T2, 1)), C3: [(T2, 0)]}
    # testMultipleConsumersMixedTopicSubscriptions (the general algorithm)
    got = assign(name, {T1: 3, T2: 2}, {C1: sub(T1), C2: sub(T1, T2), C3: sub(T1)})
    assert got == {C1: tps((T1, 0), (T1, 2)), C2: tps((T2, 0), (T2, 1)), C3: [(T1, 1)]}


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
