"""Demo: the same group, the same join and the same SIGKILL, rebalanced eagerly, then
cooperatively, then with the consumer protocol (KIP-848); which partitions paused, for how
long, and the records/s meanwhile.

Each consumer is a real process (``kcli.Consumer``) that writes a timestamped line for every
partition its rebalance callbacks hand it or take from it and for every record it reads; a
producer thread writes at a steady rate.  The eager and cooperative groups are kcli's own
(coordinated through the store); the consumer-protocol group needs a broker, so its consumers
talk to a ``kcli serve`` of the same data directory (``group.protocol=consumer``, the broker's
``uniform`` assignor).  ``measure`` is also what ``benchmarks/bench_rebalance_protocols.py``
runs.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from kcli import Producer
from kcli.demos._common import (
    DemoContext,
    Pacer,
    heading,
    live_view,
    python_executable,
    reset_groups,
    reset_topic,
    summary,
)
from storage.groups import GroupNotFound, GroupStore

TOPIC = "demo-rebalance"
GROUP = "demo-rebalance"
# (protocol, the assignor that gives it): sticky assignments handed out three ways; the
# consumer protocol's assignor runs in the broker.
PROTOCOLS = (("eager", "sticky"), ("cooperative", "cooperative-sticky"), ("consumer", "uniform"))
CONSUMER_PROTOCOL = "consumer"

_MEMBER = r"""
import json, signal, sys, time
from kcli import Consumer
cfg = json.loads(sys.argv[1])
out = open(sys.argv[2], "a", buffering=1)
def emit(kind, **kw):
    out.write(json.dumps({"e": kind, "t": time.time(), **kw}) + "\n")
stop = []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
signal.signal(signal.SIGINT, signal.SIG_IGN)
if cfg.get("bootstrap"):
    c = Consumer({"bootstrap.servers": cfg["bootstrap"], "group.id": cfg["group"],
                  "client.id": cfg["name"], "group.protocol": "consumer",
                  "auto.offset.reset": "latest"})
else:
    c = Consumer({"data.dir": cfg["data_dir"], "group.id": cfg["group"], "client.id": cfg["name"],
                  "session.timeout.ms": cfg["session"], "auto.offset.reset": "latest",
                  "partition.assignment.strategy": cfg["assignor"]})
def parts(ps):
    return [p.partition for p in ps]
emit("subscribe")
c.subscribe([cfg["topic"]],
            on_assign=lambda c, ps: emit("assigned", parts=parts(ps)),
            on_revoke=lambda c, ps: emit("revoked", parts=parts(ps)),
            on_lost=lambda c, ps: emit("revoked", parts=parts(ps)))
while not stop:
    m = c.poll(0.05)
    if m is not None and m.error() is None:
        emit("rec", p=m.partition())
c.close()
"""


class _Member:
    """One consumer process and the events it wrote."""

    def __init__(self, workdir: Path, name: str, cfg: dict):
        self.name = name
        self.path = workdir / f"{name}.events"
        self.killed_at: float | None = None
        self.proc = subprocess.Popen(
            [python_executable(), "-c", _MEMBER, json.dumps({**cfg, "name": name}), str(self.path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def events(self) -> list[dict]:
        try:
            lines = self.path.read_text().splitlines()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in lines if line.endswith("}")]

    def owned(self) -> set[int]:
        mine: set[int] = set()
        for ev in self.events():
            if ev["e"] == "assigned":
                mine |= set(ev["parts"])
            elif ev["e"] == "revoked":
                mine -= set(ev["parts"])
        return mine

    def intervals(self) -> dict[int, list[tuple[float, float]]]:
        """When this member owned each partition (to now, or to its kill)."""
        out: dict[int, list[tuple[float, float]]] = {}
        open_: dict[int, float] = {}
        for ev in self.events():
            if ev["e"] == "assigned":
                for p in ev["parts"]:
                    open_.setdefault(p, ev["t"])
            elif ev["e"] == "revoked":
                for p in ev["parts"]:
                    start = open_.pop(p, None)
                    if start is not None:
                        out.setdefault(p, []).append((start, ev["t"]))
        end = self.killed_at or time.time()
        for p, start in open_.items():
            out.setdefault(p, []).append((start, end))
        return out

    def records_between(self, start: float, end: float) -> int:
        return sum(1 for ev in self.events() if ev["e"] == "rec" and start <= ev["t"] <= end)

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


@dataclass(frozen=True)
class Pauses:
    """One rebalance (a join or a kill) under one protocol, measured from the callbacks."""

    event: str
    retained: int  # partitions that kept their owner
    retained_pause_s: float  # the longest time one of them had no owner
    moved: int
    moved_pause_s: float
    took_s: float  # from the newcomer's subscribe() or the SIGKILL to everything owned again
    records_per_s: float  # records read per second during the rebalance
    records_per_s_before: float  # ... over the same length of time just before it


def _longest_gap(intervals: list[tuple[float, float]], start: float, end: float) -> float:
    gap, at = 0.0, start
    for s, e in sorted(intervals):
        if s > at:
            gap = max(gap, min(s, end) - at)
        at = max(at, e)
        if at >= end:
            break
    return max(gap, end - at)


def _owners(members: list[_Member]) -> dict[int, str]:
    return {p: m.name for m in members if m.killed_at is None for p in m.owned()}


def _settled(members: list[_Member], partitions: int, groups) -> bool:
    """The group is Stable with these members, the store's assignment gives out every
    partition (a cooperative round that only revoked does not), and each member has applied
    its share."""
    try:
        desc = groups.describe_group(GROUP)
    except GroupNotFound:
        return False  # nobody has joined yet
    if desc.state != "Stable" or len(desc.members) != len(members):
        return False
    assigned = {m.client_id: {p for _t, p in m.assignment} for m in desc.members}
    if sorted(p for ps in assigned.values() for p in ps) != list(range(partitions)):
        return False
    return all(assigned.get(m.name) == m.owned() for m in members)


def _last_change(members: list[_Member], since: float) -> float:
    """When the last partition changed hands after ``since`` (the callbacks' own clock)."""
    times = [
        ev["t"]
        for m in members
        for ev in m.events()
        if ev["e"] in ("assigned", "revoked") and ev["t"] >= since
    ]
    return max(times, default=since)


@contextlib.contextmanager
def _broker(data_dir: Path, session_ms: int):
    """A ``kcli serve`` of ``data_dir`` on a free port, for consumer-protocol groups: the
    broker's session timeout is ``session_ms`` and members heartbeat every third of it, as
    kcli's own members do."""
    proc = subprocess.Popen(
        [python_executable(), "-m", "kcli", "--data-dir", str(data_dir), "serve", "--port", "0"]
        + ["--config", "group.initial.rebalance.delay.ms=0"]
        + ["--config", f"group.consumer.session.timeout.ms={session_ms}"]
        + ["--config", f"group.consumer.heartbeat.interval.ms={max(session_ms // 3, 1)}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        bootstrap = None
        for line in proc.stdout:
            # The first line: "... listening on HOST:PORT, data dir ..."
            found = re.search(r"listening on (\S+:\d+),", line)
            if found:
                bootstrap = found.group(1)
                break
        if bootstrap is None:
            raise RuntimeError("kcli serve did not start")
        threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep the pipe drained
        yield bootstrap
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait(condition, what: str, timeout: float = 120.0) -> float:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.02)
    return time.time()


def _pauses(event, members, before, after, start, end) -> Pauses:
    owned: dict[int, list] = {}
    for m in members:
        for p, spans in m.intervals().items():
            owned.setdefault(p, []).extend(spans)
    retained = [p for p in sorted(set(before) | set(after)) if before.get(p) == after.get(p)]
    moved = [p for p in sorted(set(before) | set(after)) if before.get(p) != after.get(p)]
    length = max(end - start, 1e-3)
    during = sum(m.records_between(start, end) for m in members)
    earlier = sum(m.records_between(start - length, start) for m in members)
    return Pauses(
        event=event,
        retained=len(retained),
        retained_pause_s=max(
            (_longest_gap(owned.get(p, []), start, end) for p in retained), default=0.0
        ),
        moved=len(moved),
        moved_pause_s=max((_longest_gap(owned.get(p, []), start, end) for p in moved), default=0.0),
        took_s=end - start,
        records_per_s=during / length,
        records_per_s_before=earlier / length,
    )


def measure(
    store,
    data_dir: Path,
    assignor: str,
    *,
    members: int,
    partitions: int,
    session_ms: int,
    rate: float = 0.0,
    phase=lambda text: None,
    protocol: str = "",
) -> tuple[Pauses, Pauses]:
    """``members - 1`` consumers, then one more joins, then one is killed: the join's and the
    kill's pauses.  ``rate`` records/s are produced meanwhile (0: none).  With ``protocol``
    "consumer" the group is a consumer-protocol one on a ``kcli serve`` of ``data_dir``."""
    reset_groups(store, GROUP)
    reset_topic(store, TOPIC, partitions)
    if protocol != CONSUMER_PROTOCOL:
        return _measure(store, data_dir, assignor, members, partitions, session_ms, rate, phase)
    with _broker(data_dir, session_ms) as bootstrap:
        return _measure(
            store, data_dir, assignor, members, partitions, session_ms, rate, phase, bootstrap
        )


def _measure(
    store, data_dir, assignor, members, partitions, session_ms, rate, phase, bootstrap=None
):
    label = assignor if bootstrap is None else f"consumer protocol ({assignor})"

    groups = GroupStore(store)
    cfg = {
        "data_dir": str(data_dir),
        "group": GROUP,
        "topic": TOPIC,
        "session": session_ms,
        "assignor": assignor,
        "bootstrap": bootstrap,
    }
    stop = threading.Event()

    def produce() -> None:
        producer = Producer({"data.dir": str(data_dir)})
        pacer = Pacer(rate)
        n = 0
        while not stop.is_set():
            pacer.wait()
            producer.produce(TOPIC, value=f"r{n}", partition=n % partitions)
            n += 1
            if n % 10 == 0:
                producer.flush()
        producer.flush()

    feeder = threading.Thread(target=produce, daemon=True)
    group: list[_Member] = []
    with tempfile.TemporaryDirectory(prefix="kcli-rebalance-") as tmp:
        workdir = Path(tmp)
        try:
            phase(f"{label}: {members - 1} consumers start")
            for i in range(members - 1):
                group.append(_Member(workdir, f"C{i + 1}", cfg))
            _wait(lambda: _settled(group, partitions, groups), "the first consumers")
            if rate:
                feeder.start()
                time.sleep(1.0)
            before = _owners(group)
            phase(f"{label}: C{members} joins")
            joiner = _Member(workdir, f"C{members}", cfg)
            group.append(joiner)
            _wait(joiner.events, "the newcomer to start")
            start = joiner.events()[0]["t"]
            _wait(lambda: _settled(group, partitions, groups), "the join")
            end = _last_change(group, start)
            after = _owners(group)
            join = _pauses("join", group, before, after, start, end)
            time.sleep(0.5)

            victim = next(m for m in group if m.owned())
            phase(f"{label}: {victim.name} killed with SIGKILL")
            before = _owners(group)
            victim.kill()
            alive = [m for m in group if m is not victim]
            _wait(lambda: _settled(alive, partitions, groups), "the takeover")
            end = _last_change(alive, victim.killed_at)
            kill = _pauses("kill", group, before, _owners(alive), victim.killed_at, end)
        finally:
            stop.set()
            if feeder.is_alive():
                feeder.join(5)
            for m in group:
                m.stop()
    return join, kill


def run(ctx: DemoContext) -> list[str]:
    """Eager, cooperative and the consumer protocol, side by side: a join and a kill each."""
    members, partitions = 4, 12
    session_ms = 2000 if ctx.fast else 4000
    rate = 200.0 if ctx.fast else 400.0
    store = ctx.store()
    status = {"phase": ""}
    heading(
        ctx,
        "Rebalances: stop-the-world or incremental",
        f"{members - 1} consumer processes share {partitions} partitions of '{TOPIC}' while a "
        f"producer writes {rate:.0f} records/s; a {members}th joins, then one is killed "
        f"(session.timeout.ms={session_ms}). First with the eager protocol (sticky), then "
        f"the cooperative one (cooperative-sticky), then the consumer protocol (KIP-848: a "
        f"kcli serve assigns, uniform): sticky assignments handed out three ways.",
    )
    results = {}
    with live_view(ctx, lambda: status["phase"], lambda: status["phase"]) as refresh:
        for protocol, assignor in PROTOCOLS:
            results[protocol] = measure(
                store,
                ctx.data_dir,
                assignor,
                members=members,
                partitions=partitions,
                session_ms=session_ms,
                rate=rate,
                phase=lambda text: status.update(phase=text),
                protocol=protocol,
            )
            refresh()
        status["phase"] = "done"
    store.close()
    lines = []
    for protocol, (join, kill) in results.items():
        for p in (join, kill):
            what = "a consumer joined" if p.event == "join" else "a consumer was killed"
            lines.append(
                f"{protocol}, {what}: {p.retained} partitions stayed, paused at most "
                f"{p.retained_pause_s:.2f} s; {p.moved} moved, paused at most "
                f"{p.moved_pause_s:.2f} s; done after {p.took_s:.2f} s; "
                f"{p.records_per_s:.0f} records/s meanwhile ({p.records_per_s_before:.0f} before)"
            )
    for protocol in ("cooperative", CONSUMER_PROTOCOL):
        join, kill = results[protocol]
        lines.append(
            f"{protocol}: the partitions that stayed were never paused"
            if join.retained_pause_s == 0 and kill.retained_pause_s == 0
            else f"{protocol}: a partition that stayed was paused (it should not be)"
        )
    lines.append(
        "a killed consumer's partitions wait for its session to time out under every protocol"
    )
    summary(ctx, lines)
    return lines
