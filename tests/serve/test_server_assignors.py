"""The consumer protocol's server-side assignors (KIP-848): ``uniform`` is balanced and sticky,
``range`` gives contiguous ranges per topic in member-id order (co-partitioned topics line up)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kcli.serve.server_assignors import assign


def _tps(topic: str, *partitions: int) -> set[tuple[str, int]]:
    return {(topic, p) for p in partitions}


def test_uniform_splits_evenly_and_keeps_what_members_had():
    subs = {m: frozenset({"t"}) for m in ("a", "b")}
    first = assign("uniform", subs, {"t": 4}, {})
    assert sorted(len(v) for v in first.values()) == [2, 2]
    # A third member joins 12 partitions: each of a and b keeps 4 of its 6, c gets the rest.
    previous = {"a": _tps("t", *range(6)), "b": _tps("t", *range(6, 12))}
    subs["c"] = frozenset({"t"})
    after = assign("uniform", subs, {"t": 12}, previous)
    assert [len(after[m]) for m in "abc"] == [4, 4, 4]
    assert after["a"] <= previous["a"] and after["b"] <= previous["b"]


def test_uniform_gives_a_topic_only_to_its_subscribers():
    subs = {"a": frozenset({"t", "u"}), "b": frozenset({"t"})}
    out = assign("uniform", subs, {"t": 2, "u": 2}, {})
    # Only a can take u's partitions, so b takes t's: two each.
    assert out == {"a": _tps("u", 0, 1), "b": _tps("t", 0, 1)}


def test_range_lines_up_co_partitioned_topics():
    subs = {"b": frozenset({"t", "u"}), "a": frozenset({"t", "u"})}
    out = assign("range", subs, {"t": 5, "u": 5}, {})
    assert out["a"] == _tps("t", 0, 1, 2) | _tps("u", 0, 1, 2)
    assert out["b"] == _tps("t", 3, 4) | _tps("u", 3, 4)


def test_a_missing_topic_is_left_out_and_an_unknown_assignor_refused():
    assert assign("uniform", {"a": frozenset({"gone"})}, {}, {}) == {"a": set()}
    with pytest.raises(ValueError):
        assign("sticky", {}, {}, {})


@given(
    members=st.integers(1, 6),
    partitions=st.integers(0, 30),
    assignor=st.sampled_from(["uniform", "range"]),
    seed=st.integers(0, 5),
)
def test_every_partition_has_exactly_one_owner_and_uniform_is_balanced(
    members, partitions, assignor, seed
):
    ids = [f"m{i}" for i in range(members)]
    subs = {m: frozenset({"t"}) for m in ids}
    previous = {
        m: _tps("t", *range(i + seed, partitions, members + seed)) for i, m in enumerate(ids)
    }
    out = assign(assignor, subs, {"t": partitions}, previous)
    owned = [tp for tps in out.values() for tp in tps]
    assert sorted(owned) == sorted(_tps("t", *range(partitions)))
    counts = [len(v) for v in out.values()]
    assert max(counts) - min(counts) <= 1
