"""Cooperative incremental rebalancing (KIP-429) and static membership (KIP-345) across real
processes.

Each member is its own Python process using the Consumer API (tests/groups/member.py); every
event a member's callbacks see is recorded with its time, so the tests can replay who owned
what when.  Under ``cooperative-sticky`` the callbacks get increments, as in confluent-kafka:
``on_assign`` the partitions added, ``on_revoke`` the partitions taken away.
"""

from __future__ import annotations

import json

import pytest

from tests.waiting import wait_for

from .helpers import (  # noqa: F401 - member_spawner, orders_data_dir: fixtures spawn, data_dir
    GROUP,
    TOPIC,
    Member,
    assert_one_reader_at_a_time,
    describe,
    member_spawner,
    members_agree,
    orders_data_dir,
    run_kcli,
    stable_with,
)

COOPERATIVE = {"assignor": "cooperative-sticky"}
# A session far longer than a test waits: nothing here moves because a session expired.
LONG_SESSION = {"session_timeout_ms": 120_000}


def _settle(data_dir, members: list[Member]):
    """The group's description once it is Stable with these members, every partition has an
    owner (a cooperative round that only revoked is not the end), and each member has applied
    the assignment the store holds for it."""

    def settled():
        d = stable_with(data_dir, GROUP, len(members))
        if d is None or sum(len(m.assignment) for m in d.members) != 4:
            return None
        return d if members_agree(members, d) else None

    return wait_for(settled, f"a stable group of {len(members)}")


def _events_since(member: Member, mark: int, *kinds: str) -> list[dict]:
    return [ev for ev in member.events()[mark:] if ev["e"] in kinds]


def _parts(events: list[dict]) -> set:
    return {(t, p) for ev in events for t, p in ev["parts"]}


def _records(members: list[Member]) -> list:
    return [(tuple(ev["tp"]), ev["o"]) for m in members for ev in m.events() if ev["e"] == "rec"]


# -- cooperative incremental rebalancing --------------------------------------------------------


def test_cooperative_join_never_revokes_a_retained_partition(data_dir, spawn):
    a = spawn("a", **COOPERATIVE, **LONG_SESSION)
    b = spawn("b", **COOPERATIVE, **LONG_SESSION)
    desc = _settle(data_dir, [a, b])
    assert desc.assignor == "cooperative-sticky"
    before = {m.name: set(m.assignment()) for m in (a, b)}
    assert sorted(len(v) for v in before.values()) == [2, 2]
    generation = desc.generation
    marks = {m.name: len(m.events()) for m in (a, b)}

    c = spawn("c", **COOPERATIVE, **LONG_SESSION)
    desc = _settle(data_dir, [a, b, c])
    after = {m.name: set(m.assignment()) for m in (a, b, c)}
    assert sorted(len(v) for v in after.values()) == [1, 1, 2]
    for m in (a, b):
        revoked = _parts(_events_since(m, marks[m.name], "revoked"))
        assert not _events_since(m, marks[m.name], "lost")
        # Only what moves is revoked; what the member keeps, it never gives up.
        assert revoked == before[m.name] - after[m.name], m.name
        assert not revoked & after[m.name], m.name
        assert after[m.name] <= before[m.name]
    moved = after["c"]
    assert len(moved) == 1
    # Two rounds: the first revokes the partition that moves, the second assigns it.
    revoke = next(
        ev for m in (a, b) for ev in _events_since(m, marks[m.name], "revoked") if ev["parts"]
    )
    given = next(ev for ev in c.events() if ev["e"] == "assigned" and ev["parts"])
    assert revoke["t"] <= given["t"]
    assert given["gen"] == generation + 2
    assert desc.generation == generation + 2

    # kcli group watch shows both rounds, from the group's record of its rebalances.
    def watch(columns: str) -> str:
        return run_kcli(
            data_dir,
            *("group", "watch", GROUP, "--count", "1", "-o", "table"),
            env_extra={"COLUMNS": columns},
        ).stdout

    wide = watch("200")
    assert "cooperative" in wide and "WAITING" in wide
    (tp,) = moved
    name = f"{tp[0]}-{tp[1]}"
    rows = [line.split() for line in wide.splitlines()]
    round1 = next(r for r in rows if r[:2] == [str(generation + 1), "cooperative"])
    round2 = next(r for r in rows if r[:2] == [str(generation + 2), "cooperative"])
    assert round1[-1] == name  # revoked: nobody owns it until the next round
    assert round2[-1] == "-" and round2[-2] == name  # assigned, nothing waits
    assert max(len(line) for line in watch("80").splitlines()) <= 80

    for m in (a, b, c):
        m.terminate()
    assert_one_reader_at_a_time([a, b, c])
    # The previous owner committed on revoking: nothing was read twice.
    records = _records([a, b, c])
    assert sorted(records) == sorted(set(records))
    assert {tp for tp, _o in records} == {(TOPIC, p) for p in range(4)}


def test_eager_join_revokes_everything_for_contrast(data_dir, spawn):
    """The same join under an eager assignor: every member gives up all its partitions."""
    a = spawn("a", assignor="sticky", **LONG_SESSION)
    b = spawn("b", assignor="sticky", **LONG_SESSION)
    _settle(data_dir, [a, b])
    before = {m.name: set(m.assignment()) for m in (a, b)}
    marks = {m.name: len(m.events()) for m in (a, b)}
    c = spawn("c", assignor="sticky", **LONG_SESSION)
    _settle(data_dir, [a, b, c])
    for m in (a, b):
        assert _parts(_events_since(m, marks[m.name], "revoked")) == before[m.name]
    for m in (a, b, c):
        m.terminate()


def test_cooperative_leave_hands_over_without_touching_the_others(data_dir, spawn):
    a = spawn("a", **COOPERATIVE, **LONG_SESSION)
    b = spawn("b", **COOPERATIVE, **LONG_SESSION)
    c = spawn("c", **COOPERATIVE, **LONG_SESSION)
    _settle(data_dir, [a, b, c])
    leaver = next(m for m in (a, b, c) if m.assignment())
    rest = [m for m in (a, b, c) if m is not leaver]
    before = {m.name: set(m.assignment() or ()) for m in rest}
    marks = {m.name: len(m.events()) for m in rest}
    leaver.terminate()
    _settle(data_dir, rest)
    assert sorted(tp for m in rest for tp in m.assignment()) == [(TOPIC, p) for p in range(4)]
    for m in rest:
        assert not _events_since(m, marks[m.name], "revoked", "lost"), m.name
        assert before[m.name] <= set(m.assignment())
    for m in rest:
        m.terminate()
    assert_one_reader_at_a_time([a, b, c])


# -- static membership ----------------------------------------------------------------------


@pytest.mark.parametrize("how", ["kill", "close"])
def test_static_member_restart_within_the_session_is_no_rebalance(data_dir, spawn, how):
    session = {"session_timeout_ms": 60_000}
    a = spawn("a", instance_id="billing-a", **session)
    b = spawn("b", instance_id="billing-b", **session)
    desc = _settle(data_dir, [a, b])
    generation = desc.generation
    a_partitions = a.assignment()
    assert a_partitions
    old_member_id = a.member_id()
    mark = len(b.events())

    if how == "kill":
        a.kill()
    else:
        a.terminate()  # a static member does not leave the group on close
    gone = describe(data_dir, GROUP)
    assert gone.state == "Stable" and len(gone.members) == 2
    a2 = spawn("a2", instance_id="billing-a", **session)
    wait_for(lambda: a2.assignment() == a_partitions, "the restarted member's partitions")

    desc = describe(data_dir, GROUP)
    assert desc.state == "Stable"
    assert desc.generation == generation
    assert a2.member_id() != old_member_id
    assert next(ev for ev in a2.events() if ev["e"] == "assigned")["gen"] == generation
    assert {m.group_instance_id: m.member_id for m in desc.members} == {
        "billing-a": a2.member_id(),
        "billing-b": b.member_id(),
    }
    # The other member saw nothing at all.
    assert not _events_since(b, mark, "assigned", "revoked", "lost")
    a2.terminate()
    b.terminate()
    assert_one_reader_at_a_time([a, a2, b])


def test_static_member_away_longer_than_its_session_is_removed(data_dir, spawn):
    a = spawn("a", instance_id="billing-a", session_timeout_ms=1500)
    b = spawn("b", instance_id="billing-b", session_timeout_ms=1500)
    desc = _settle(data_dir, [a, b])
    a.terminate()
    desc2 = _settle(data_dir, [b])
    assert desc2.generation > desc.generation
    assert b.assignment() == [(TOPIC, p) for p in range(4)]
    b.terminate()


def test_a_second_process_with_the_same_instance_id_fences_the_first(data_dir, spawn):
    a = spawn("a", instance_id="billing-a", **LONG_SESSION)
    _settle(data_dir, [a])
    a2 = spawn("a2", instance_id="billing-a", **LONG_SESSION)
    wait_for(lambda: a2.assignment() == [(TOPIC, p) for p in range(4)], "a2 to take over")
    fenced = wait_for(
        lambda: next(
            (ev for ev in a.events() if ev["e"] == "error" and ev["code"] == "FENCED_INSTANCE_ID"),
            None,
        ),
        "a to be told it was fenced",
    )
    assert "billing-a" in fenced["text"]
    assert any(ev["e"] == "lost" for ev in a.events())
    desc = describe(data_dir, GROUP)
    assert [m.member_id for m in desc.members] == [a2.member_id()]
    a2.terminate()
    a.terminate()
    assert_one_reader_at_a_time([a, a2])


def test_kcli_consume_with_an_instance_id_is_a_static_member(data_dir):
    result = run_kcli(
        data_dir,
        "consume",
        TOPIC,
        "--group",
        GROUP,
        "--instance-id",
        "cli-1",
        "--max-messages",
        "20",
    )
    assert len(result.stdout.splitlines()) == 20
    # Still a member after exiting: a static member is only removed when its session expires.
    desc = describe(data_dir, GROUP)
    assert [m.group_instance_id for m in desc.members] == ["cli-1"]
    shown = run_kcli(data_dir, "group", "describe", GROUP, "--members", "--output", "json")
    rows = [json.loads(line) for line in shown.stdout.splitlines()]
    assert [r["group_instance_id"] for r in rows] == ["cli-1"]
    for columns in ("200", "80"):
        table = run_kcli(
            data_dir,
            *("group", "describe", GROUP, "--members", "-o", "table"),
            env_extra={"COLUMNS": columns},
        ).stdout
        assert "GROUP-INSTANCE-ID" in table and "cli-1" in table
        assert max(len(line) for line in table.splitlines()) <= int(columns)
    bad = run_kcli(
        data_dir, "consume", TOPIC, "--instance-id", "x", "--max-messages", "1", check=False
    )
    assert bad.returncode != 0
    assert "--instance-id" in bad.stderr and "--group" in bad.stderr
    assert "Traceback" not in bad.stderr
