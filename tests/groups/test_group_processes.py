"""Consumer groups across real processes: assignment, joins, clean exits, SIGKILL, SIGSTOP.

Each member is a separate Python process using the Consumer API (tests/groups/member.py);
the group's state is only in the store.  Nothing here asserts how fast things happen
(benchmarks/bench_rebalance.py measures that); where time matters, it is used as a bound the
protocol guarantees (a member is never expired before its session timeout).
"""

from __future__ import annotations

import time

from storage import ProducerRecord, Store
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
    stable_with,
)


def _settle(data_dir, members: list[Member]):
    """Wait until the group is Stable with these members and each has applied its share."""
    desc = wait_for(
        lambda: (
            (d := stable_with(data_dir, GROUP, len(members))) and members_agree(members, d) and d
        ),
        f"a stable group of {len(members)}",
    )
    return desc


def test_range_shares_then_idles_then_a_clean_exit_moves_partitions_at_once(data_dir, spawn):
    # A session far longer than the test can wait: any move seen here comes from a clean
    # leave, never from an expired session.
    slow = {"session_timeout_ms": 120_000}
    a, b = spawn("a", **slow), spawn("b", **slow)
    desc = _settle(data_dir, [a, b])
    assert sorted(len(m.assignment) for m in desc.members) == [2, 2]
    assert desc.assignor == "range"

    c = spawn("c", **slow)
    desc = _settle(data_dir, [a, b, c])
    by_id = sorted(desc.members, key=lambda m: m.member_id)
    # Range: members sorted by member id; the first gets the extra partition, contiguously.
    assert [len(m.assignment) for m in by_id] == [2, 1, 1]
    assert [p for m in by_id for _t, p in m.assignment] == [0, 1, 2, 3]

    d, e = spawn("d", **slow), spawn("e", **slow)
    desc = _settle(data_dir, [a, b, c, d, e])
    by_id = sorted(desc.members, key=lambda m: m.member_id)
    assert [len(m.assignment) for m in by_id] == [1, 1, 1, 1, 0]  # the last member idles
    idle = next(m for m in (a, b, c, d, e) if m.member_id() == by_id[-1].member_id)
    assert idle.assignment() == []

    # A clean exit of a member that owns a partition: the others rebalance right away.
    owner = next(m for m in (a, b, c, d, e) if m.assignment())
    gone = owner.assignment()
    generation = desc.generation
    owner.terminate()
    assert owner.events()[-1]["e"] == "closed"
    rest = [m for m in (a, b, c, d, e) if m is not owner]
    desc = _settle(data_dir, rest)
    assert desc.generation > generation
    assert sorted(len(m.assignment) for m in desc.members) == [1, 1, 1, 1]
    assert any(m.assignment() == gone for m in rest)
    for m in rest:
        m.terminate()
    assert_one_reader_at_a_time([a, b, c, d, e])
    assert describe(data_dir, GROUP).state == "Empty"


def test_sigkill_moves_partitions_after_the_session_timeout(data_dir, spawn):
    session_ms = 1500
    a = spawn("a", session_timeout_ms=session_ms)
    b = spawn("b", session_timeout_ms=session_ms)
    desc = _settle(data_dir, [a, b])
    victim, survivor = (a, b) if a.assignment() else (b, a)
    generation = desc.generation
    victim.kill()
    last_heartbeat_ms = next(
        m.last_heartbeat_ms
        for m in describe(data_dir, GROUP).members
        if m.member_id == victim.member_id()
    )
    desc = _settle(data_dir, [survivor])
    assert desc.generation > generation
    assert survivor.assignment() == [(TOPIC, p) for p in range(4)]
    moved_at = next(
        ev["t"]
        for ev in reversed(survivor.events())
        if ev["e"] == "assigned" and len(ev["parts"]) == 4
    )
    # Never before the killed member's session expired: session.timeout.ms after its last
    # heartbeat, which was sent before the kill.
    assert last_heartbeat_ms / 1000 <= victim.killed_at
    assert moved_at >= (last_heartbeat_ms + session_ms) / 1000
    # Its records were all processed again or before: nothing in between was lost.
    survivor.terminate()
    seen = {(tuple(ev["tp"]), ev["o"]) for m in (a, b) for ev in m.events() if ev["e"] == "rec"}
    assert seen == {((TOPIC, p), o) for p in range(4) for o in range(5)}
    assert_one_reader_at_a_time([a, b])


def test_a_frozen_member_stops_reading_before_its_partitions_move(data_dir, spawn):
    """SIGSTOP a member past its session: the others take over; when it wakes up it must not
    read another record of its old partitions (it learns it was removed first)."""
    import os
    import signal

    a = spawn("a", session_timeout_ms=1200)
    b = spawn("b", session_timeout_ms=1200)
    _settle(data_dir, [a, b])
    os.kill(a.pid, signal.SIGSTOP)
    try:
        wait_for(lambda: len(b.assignment() or ()) == 4, "b to own everything")
        store = Store(data_dir)
        for p in range(4):
            store.log(TOPIC, p).append_records([ProducerRecord(b"after-freeze")])
        store.close()
        wait_for(
            lambda: (
                sum(1 for ev in b.events() if ev["e"] == "rec" and ev["v"] == "after-freeze") == 4
            ),
            "b to read the new records",
        )
    finally:
        os.kill(a.pid, signal.SIGCONT)
    wait_for(lambda: any(ev["e"] == "lost" for ev in a.events()), "a to learn it was removed")
    _settle(data_dir, [a, b])
    a.terminate()
    b.terminate()
    assert_one_reader_at_a_time([a, b])


def test_a_commit_from_a_stale_generation_is_refused(data_dir, spawn):
    a = spawn("a", stale_commit=True)
    _settle(data_dir, [a])
    b = spawn("b")
    _settle(data_dir, [a, b])
    result = wait_for(
        lambda: next((ev for ev in a.events() if ev["e"] == "stale_commit"), None),
        "a's commit with its first generation",
    )
    assert result["refused"], result
    assert "generation" in result["error"]
    a.terminate()
    b.terminate()


def test_at_least_once_while_members_are_killed_and_a_producer_writes(tmp_path, data_dir, spawn):
    """Members come and go (two SIGKILLs, one clean exit) while a producer keeps writing.

    Every produced record is processed at least once, and a record is processed twice only
    if a member that processed it was killed before committing it (or, on a machine too busy
    to heartbeat in time, was declared dead by the group and lost its partitions).
    """
    import subprocess
    import sys

    produced = 400
    producer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from kcli import Producer\n"
            "p = Producer({'data.dir': sys.argv[1]})\n"
            "for i in range(int(sys.argv[2])):\n"
            "    p.produce(sys.argv[3], value=b'r%d' % i, key=b'k%d' % i)\n"
            "    if i % 10 == 9:\n"
            "        p.flush(); time.sleep(0.05)\n"
            "p.flush()\n",
            str(data_dir),
            str(produced),
            TOPIC,
        ]
    )
    session = {"session_timeout_ms": 2500}
    members = [spawn("m1", **session), spawn("m2", **session), spawn("m3", **session)]
    wait_for(lambda: stable_with(data_dir, GROUP, 3), "three members")

    def records(m: Member) -> int:
        return sum(1 for ev in m.events() if ev["e"] == "rec")

    wait_for(lambda: all(records(m) > 0 for m in members if m.assignment()), "first records")
    members[0].kill()
    members.append(spawn("m4", **session))
    wait_for(lambda: records(members[3]) > 0, "m4 to read")
    members[1].kill()
    members[2].terminate()
    members.append(spawn("m5", **session))
    assert producer.wait(timeout=120) == 0

    total = 20 + produced  # the fixture's records plus the producer's

    def processed() -> set:
        return {
            (tuple(ev["tp"]), ev["o"]) for m in members for ev in m.events() if ev["e"] == "rec"
        }

    wait_for(lambda: len(processed()) == total, f"all {total} records processed", timeout=120)
    for m in members[3:]:
        m.terminate()

    store = Store(data_dir)
    expected = {
        ((TOPIC, p), r.offset) for p in range(4) for r in store.log(TOPIC, p).read_records(0)
    }
    assert len(expected) == total
    assert processed() == expected

    killed = {
        m.name
        for m in members
        if m.killed_at is not None or any(ev["e"] == "lost" for ev in m.events())
    }
    first_reader: dict = {}
    for m in members:
        for ev in m.events():
            if ev["e"] == "rec":
                key = (tuple(ev["tp"]), ev["o"])
                if key in first_reader:
                    assert first_reader[key][1] in killed, (
                        f"{key} processed again by {m.name}, but {first_reader[key][1]} "
                        f"processed it first and was not killed"
                    )
                else:
                    first_reader[key] = (ev["t"], m.name)
    assert_one_reader_at_a_time(members)
    time.sleep(0)  # keep the producer's output flushed before the fixture tears down
