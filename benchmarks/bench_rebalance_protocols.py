"""Eager against cooperative rebalancing: how long partitions go without an owner.

    python benchmarks/bench_rebalance_protocols.py [--members 4] [--partitions 12]
                                                   [--session-timeout-ms 3000]

Every member is a real process using the Consumer API; it writes a timestamped line for every
partition its rebalance callbacks hand it or take from it.  For each protocol — eager
(``sticky``) and cooperative (``cooperative-sticky``, KIP-429), the same sticky assignment —
the run:

* starts ``members - 1`` members and waits until they own every partition;
* join: starts one more member, and waits until the group is Stable with every partition
  owned again;
* kill: sends SIGKILL to one member, and waits until the survivors own every partition.

From the callbacks' records it prints, for the join and for the kill, the longest stretch of
time any partition had no owner, separately for the partitions that stayed with their owner
(retained: the cooperative protocol promises 0) and for those that moved; and how long the
whole move took (join: from the newcomer's subscribe(); kill: from the SIGKILL, which the
group cannot notice before ``session.timeout.ms``), also as a number of heartbeat intervals
(``session.timeout.ms`` / 3).  A killed member's partitions count as ownerless from the kill.
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MEMBER = r"""
import json, signal, sys, time
from kcli import Consumer
cfg = json.loads(sys.argv[1])
out = open(sys.argv[2], "a", buffering=1)
def emit(kind, **kw):
    out.write(json.dumps({"e": kind, "t": time.time(), **kw}) + "\n")
stop = []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
c = Consumer({"data.dir": cfg["data_dir"], "group.id": cfg["group"],
              "session.timeout.ms": cfg["session"],
              "partition.assignment.strategy": cfg["assignor"]})
def parts(ps):
    return [[p.topic, p.partition] for p in ps]
emit("subscribe")
c.subscribe([cfg["topic"]],
            on_assign=lambda c, ps: emit("assigned", parts=parts(ps)),
            on_revoke=lambda c, ps: emit("revoked", parts=parts(ps)),
            on_lost=lambda c, ps: emit("revoked", parts=parts(ps)))
while not stop:
    c.poll(0.05)
c.close()
emit("closed")
"""

TOPIC = "bench"
PROTOCOLS = (("eager", "sticky"), ("cooperative", "cooperative-sticky"))


class Member:
    def __init__(self, workdir: Path, name: str, cfg: dict):
        self.name = name
        self.events_path = workdir / f"{name}.events"
        self.killed_at: float | None = None
        self.proc = subprocess.Popen(
            [sys.executable, "-c", MEMBER, json.dumps(cfg), str(self.events_path)],
            stdout=subprocess.DEVNULL,
        )

    def events(self) -> list[dict]:
        try:
            lines = self.events_path.read_text().splitlines()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in lines if line.endswith("}")]

    def owned(self) -> set:
        mine: set = set()
        for ev in self.events():
            if ev["e"] == "assigned":
                mine |= {tuple(tp) for tp in ev["parts"]}
            elif ev["e"] == "revoked":
                mine -= {tuple(tp) for tp in ev["parts"]}
        return mine

    def intervals(self) -> dict:
        """{partition: [(start, end)]}: when this member owned it (end: now if it still does,
        the kill if it was killed)."""
        out: dict = {}
        open_: dict = {}
        for ev in self.events():
            if ev["e"] == "assigned":
                for tp in ev["parts"]:
                    open_.setdefault(tuple(tp), ev["t"])
            elif ev["e"] == "revoked":
                for tp in ev["parts"]:
                    start = open_.pop(tuple(tp), None)
                    if start is not None:
                        out.setdefault(tuple(tp), []).append((start, ev["t"]))
        end = self.killed_at or time.time()
        for tp, start in open_.items():
            out.setdefault(tp, []).append((start, end))
        return out

    def kill(self) -> None:
        self.killed_at = time.time()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_until(condition, what: str, timeout: float = 120.0) -> float:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.02)
    return time.time()


def everything_owned(members: list[Member], partitions: int, data_dir: Path) -> bool:
    from storage import Store
    from storage.groups import GroupStore

    owned = [tp for m in members for tp in m.owned()]
    if sorted(owned) != [(TOPIC, p) for p in range(partitions)]:
        return False
    desc = GroupStore(Store(data_dir)).describe_group("bench")
    return desc.state == "Stable" and len(desc.members) == len(members)


def longest_gap(intervals: list[tuple[float, float]], start: float, end: float) -> float:
    """The longest stretch of [start, end] covered by none of ``intervals``."""
    gap, at = 0.0, start
    for s, e in sorted(intervals):
        if s > at:
            gap = max(gap, min(s, end) - at)
        at = max(at, e)
        if at >= end:
            break
    return max(gap, end - at)


def pauses(members: list[Member], before: dict, after: dict, start: float, end: float):
    """(longest gap of a retained partition, longest gap of a moved one) in [start, end]."""
    owned: dict = {}
    for m in members:
        for tp, spans in m.intervals().items():
            owned.setdefault(tp, []).extend(spans)
    retained, moved = 0.0, 0.0
    for tp in sorted(set(before) | set(after)):
        gap = longest_gap(owned.get(tp, []), start, end)
        if before.get(tp) == after.get(tp):
            retained = max(retained, gap)
        else:
            moved = max(moved, gap)
    return retained, moved


def owners(members: list[Member]) -> dict:
    return {tp: m.name for m in members if not m.killed_at for tp in m.owned()}


def run(protocol: str, assignor: str, args, workdir: Path) -> dict:
    from storage import Store

    data_dir = workdir / protocol
    store = Store(data_dir)
    store.create_topic(TOPIC, args.partitions)
    store.close()
    cfg = {
        "data_dir": str(data_dir),
        "group": "bench",
        "topic": TOPIC,
        "session": args.session_timeout_ms,
        "assignor": assignor,
    }
    members: list[Member] = []
    try:
        for i in range(args.members - 1):
            members.append(Member(workdir, f"{protocol}-{i}", cfg))
        wait_until(lambda: everything_owned(members, args.partitions, data_dir), "first members")
        before = owners(members)
        joiner = Member(workdir, f"{protocol}-{args.members - 1}", cfg)
        members.append(joiner)
        wait_until(lambda: joiner.events(), "the newcomer to start")
        join_start = joiner.events()[0]["t"]
        join_end = wait_until(
            lambda: everything_owned(members, args.partitions, data_dir), "the join"
        )
        after_join = owners(members)
        join = pauses(members, before, after_join, join_start, join_end)

        victim = next(m for m in members if m.owned())
        victim.kill()
        alive = [m for m in members if m is not victim]
        kill_end = wait_until(
            lambda: everything_owned(alive, args.partitions, data_dir), "the takeover"
        )
        after_kill = owners(alive)
        kill = pauses(members, after_join, after_kill, victim.killed_at, kill_end)
    finally:
        for m in members:
            m.stop()
    return {
        "protocol": protocol,
        "assignor": assignor,
        "join_retained_s": join[0],
        "join_moved_s": join[1],
        "join_total_s": join_end - join_start,
        "kill_retained_s": kill[0],
        "kill_moved_s": kill[1],
        "kill_total_s": kill_end - victim.killed_at,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--session-timeout-ms", type=int, default=3000)
    args = parser.parse_args()
    heartbeat_s = args.session_timeout_ms / 3 / 1000
    print(
        f"{args.members} consumers x {args.partitions} partitions, session.timeout.ms "
        f"{args.session_timeout_ms} (heartbeat every {heartbeat_s:.1f} s); longest time a "
        f"partition had no owner, in seconds"
    )
    print(
        f"{'protocol':<12} {'event':<5} {'retained':>9} {'moved':>7} {'move took':>10} "
        f"{'heartbeats':>11}"
    )
    with tempfile.TemporaryDirectory(prefix="kcli-bench-") as tmp:
        for protocol, assignor in PROTOCOLS:
            r = run(protocol, assignor, args, Path(tmp))
            for event in ("join", "kill"):
                took = r[f"{event}_total_s"]
                print(
                    f"{protocol:<12} {event:<5} {r[f'{event}_retained_s']:>9.3f} "
                    f"{r[f'{event}_moved_s']:>7.3f} {took:>10.3f} {took / heartbeat_s:>11.2f}"
                )


if __name__ == "__main__":
    main()
