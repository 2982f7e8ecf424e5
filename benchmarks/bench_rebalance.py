"""How long a consumer group takes to rebalance after a clean leave and after a SIGKILL.

    python benchmarks/bench_rebalance.py [--members 2] [--partitions 4] [--repeat 5]
                                         [--session-timeout-ms 2000]

Every member is a real process using the Consumer API (``subscribe`` with a group.id); each
writes a line with a timestamp when its partitions are assigned.  Measured, per trial:

* baseline: one member joins an empty group, from its subscribe() to its on_assign: the cost
  of one rebalance round when nobody has to be waited for;
* clean leave: one member calls close(); from the start of close() (commit, revoke, leave)
  until the other members have all been given the partitions again;
* kill: one member gets SIGKILL; from the kill until the others own all partitions.  The
  group cannot know before ``session.timeout.ms`` has passed since the dead member's last
  heartbeat (sent every ``heartbeat.interval.ms``, here a third of the session), so the
  figure is printed next to the session timeout.

Prints the median, best and worst of the trials, and each as a ratio of its baseline (the
join round for the clean leave; the session timeout for the kill).  Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.waiting import wait_for  # noqa: E402

MEMBER = r"""
import json, os, signal, sys, time
from kcli import Consumer
cfg = json.loads(sys.argv[1])
out = open(sys.argv[2], "a", buffering=1)
def emit(kind, **kw):
    out.write(json.dumps({"e": kind, "t": time.time(), **kw}) + "\n")
stop = []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
c = Consumer({"data.dir": cfg["data_dir"], "group.id": cfg["group"],
              "session.timeout.ms": cfg["session"], "auto.commit.interval.ms": 200})
emit("subscribe")
c.subscribe([cfg["topic"]], on_assign=lambda c, ps: emit("assigned", n=len(ps)))
while not stop:
    c.poll(0.05)
emit("closing")
c.close()
emit("closed")
"""


class Member:
    def __init__(self, workdir: Path, name: str, cfg: dict):
        self.events_path = workdir / f"{name}.events"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", MEMBER, json.dumps(cfg), str(self.events_path)]
        )

    def events(self) -> list[dict]:
        try:
            text = self.events_path.read_text()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.endswith("}")]

    def last_assigned(self) -> dict | None:
        found = [e for e in self.events() if e["e"] == "assigned"]
        return found[-1] if found else None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def group_state(data_dir: Path, group: str):
    from storage import Store
    from storage.groups import GroupStore

    try:
        return GroupStore(Store(data_dir)).describe_group(group)
    except Exception:  # noqa: BLE001 - not there yet
        return None


def settled(data_dir: Path, group: str, members: list[Member], partitions: int) -> float | None:
    """The time the last member got its share once the group is Stable with all of them."""
    desc = group_state(data_dir, group)
    if desc is None or desc.state != "Stable" or len(desc.members) != len(members):
        return None
    if sum(len(m.assignment) for m in desc.members) != partitions:
        return None
    events = [m.last_assigned() for m in members]
    if any(e is None for e in events):
        return None
    if sum(e["n"] for e in events) != partitions:
        return None
    return max(e["t"] for e in events)


def trial(workdir: Path, args, kind: str, n: int) -> tuple[float, float]:
    """One group of ``args.members``; returns (baseline join, rebalance after ``kind``)."""
    from storage import Store

    data_dir = workdir / f"{kind}-{n}"
    Store(data_dir).create_topic("t", args.partitions)
    cfg = {"data_dir": str(data_dir), "group": "g", "topic": "t", "session": args.session}
    first = Member(workdir, f"{kind}-{n}-0", cfg)
    members = [first]
    try:
        wait_for(
            lambda: settled(data_dir, "g", members, args.partitions),
            "the first member",
            interval=0.01,
        )
        ev = first.events()
        join = next(e["t"] for e in ev if e["e"] == "assigned") - next(
            e["t"] for e in ev if e["e"] == "subscribe"
        )
        for i in range(1, args.members):
            members.append(Member(workdir, f"{kind}-{n}-{i}", cfg))
            wait_for(
                lambda: settled(data_dir, "g", members, args.partitions), "members", interval=0.01
            )
        victim = members[-1]
        rest = members[:-1]
        # Wait a heartbeat or so, so that the kill lands at a random point between beats.
        time.sleep(args.session / 3000 * (n % 3 + 1) / 3)
        if kind == "kill":
            start = time.time()
            victim.proc.send_signal(signal.SIGKILL)
            victim.proc.wait()
        else:
            victim.proc.send_signal(signal.SIGTERM)
            victim.proc.wait()
            start = next(e["t"] for e in victim.events() if e["e"] == "closing")
        done = wait_for(
            lambda: settled(data_dir, "g", rest, args.partitions), "the survivors", interval=0.01
        )
        return join, done - start
    finally:
        for m in members:
            m.stop()


def summary(values: list[float]) -> str:
    return (
        f"median {statistics.median(values) * 1000:7.0f} ms   best {min(values) * 1000:6.0f} ms"
        f"   worst {max(values) * 1000:6.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--session-timeout-ms", dest="session", type=int, default=2000)
    args = parser.parse_args()
    joins: list[float] = []
    leaves: list[float] = []
    kills: list[float] = []
    with tempfile.TemporaryDirectory(prefix="kcli-bench-rebalance-") as tmp:
        workdir = Path(tmp)
        for n in range(args.repeat):
            join, leave = trial(workdir, args, "leave", n)
            joins.append(join)
            leaves.append(leave)
            join, kill = trial(workdir, args, "kill", n)
            joins.append(join)
            kills.append(kill)
    session = args.session / 1000
    heartbeat = max(1, min(3000, args.session // 3)) / 1000
    print(
        f"{args.members} members, {args.partitions} partitions, session.timeout.ms "
        f"{args.session}, heartbeat.interval.ms {heartbeat * 1000:.0f}, {args.repeat} trials, "
        f"cpus {os.cpu_count()}"
    )
    print(f"baseline: join of an empty group   {summary(joins)}")
    print(
        f"clean leave -> partitions moved    {summary(leaves)}   "
        f"median = {statistics.median(leaves) / statistics.median(joins):.1f}x the join round"
    )
    print(
        f"SIGKILL     -> partitions moved    {summary(kills)}   "
        f"median = {statistics.median(kills) / session:.2f}x session.timeout.ms "
        f"(bound: session + one heartbeat = {(session + heartbeat) / session:.2f}x)"
    )


if __name__ == "__main__":
    main()
