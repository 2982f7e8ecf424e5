"""Demo: consumer processes join a group one by one; each join is a rebalance (a new
generation); the fifth consumer on four partitions idles; then one is killed with SIGKILL
(its partitions move once its session times out) and one leaves cleanly (they move at once).

The group, its generations and assignments are read from the store, exactly what
``kcli group describe`` shows.
"""

from __future__ import annotations

import os
import signal
import threading
import time

from rich.console import Group
from rich.table import Table
from rich.text import Text

from kcli import Producer
from kcli.demos import _workers
from kcli.demos._common import (
    DemoContext,
    Pacer,
    heading,
    live_view,
    reset_groups,
    reset_topic,
    summary,
)
from storage.constants import STABLE
from storage.groups import GroupNotFound, GroupStore

TOPIC = "demo-group-scaling"
GROUP = "demo-group-scaling"
PARTITIONS = 4
CONSUMERS = 5


def run(ctx: DemoContext) -> list[str]:
    """Scale a group from 1 to 5 consumers, kill one, stop one."""

    step_s = ctx.duration(3.0, 0.1)
    session_ms = 2000 if ctx.fast else 6000
    store = ctx.store()
    reset_groups(store, GROUP)
    reset_topic(store, TOPIC, PARTITIONS)
    groups = GroupStore(store)
    mp = _workers.context()
    workers: dict[str, dict] = {}
    history: list[str] = []
    violations: list[str] = []
    state = {"phase": "", "produced": 0}
    stop_producer = threading.Event()

    def describe():
        try:
            return groups.describe_group(GROUP)
        except GroupNotFound:
            return None

    def owners(desc) -> dict[str, list[int]]:
        out = {m.client_id: sorted(p for _, p in m.assignment) for m in desc.members}
        seen: dict[int, str] = {}
        for name, parts in out.items():
            for p in parts:
                if p in seen:
                    violations.append(
                        f"generation {desc.generation}: p{p} owned by {seen[p]} and {name}"
                    )
                seen[p] = name
        return out

    def render():
        desc = describe()
        head = Text.assemble((state["phase"], "bold"))
        table = Table(box=None, pad_edge=False, header_style="bold")
        table.add_column("consumer")
        table.add_column("pid", justify="right")
        table.add_column("partitions")
        table.add_column("records read", justify="right")
        own = owners(desc) if desc else {}
        for name, w in workers.items():
            parts = own.get(name)
            if w["status"] != "running":
                cell = Text(w["status"], style="red")
            elif parts is None:
                cell = Text("joining...", style="yellow")
            elif not parts:
                cell = Text("(idle)", style="dim")
            else:
                cell = Text(" ".join(f"p{p}" for p in parts), style="green")
            table.add_row(name, str(w["proc"].pid), cell, str(w["count"].value))
        gen = (
            Text(
                f"group state {desc.state}, generation {desc.generation}, assignor {desc.assignor}",
                style="dim",
            )
            if desc
            else Text("")
        )
        return Group(head, gen, table)

    def plain():
        desc = describe()
        if not desc:
            return state["phase"]
        own = owners(desc)
        parts = ", ".join(
            f"{n}: {' '.join(f'p{p}' for p in ps) or 'idle'}" for n, ps in sorted(own.items())
        )
        return f"{state['phase']} | generation {desc.generation} {desc.state} | {parts}"

    def wait_stable(members: set[str], timeout: float = 60) -> tuple[float, object]:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            desc = describe()
            if (
                desc is not None
                and desc.state == STABLE
                and {m.client_id for m in desc.members} == members
            ):
                return time.monotonic() - t0, desc
            time.sleep(0.02)
        raise TimeoutError(f"group {GROUP} did not settle with members {sorted(members)}")

    def start_worker(name: str) -> None:
        count, stop = mp.Value("l", 0), mp.Event()
        proc = _workers.start(
            _workers.counting_worker,
            str(ctx.data_dir),
            TOPIC,
            GROUP,
            name,
            0,
            count,
            stop,
            {"session.timeout.ms": session_ms, "heartbeat.interval.ms": 300},
        )
        workers[name] = {"proc": proc, "count": count, "stop": stop, "status": "running"}

    def produce() -> None:
        producer = Producer({"data.dir": str(ctx.data_dir)})
        pacer = Pacer(20)
        while not stop_producer.is_set():
            pacer.wait()
            for _ in range(5):
                producer.produce(TOPIC, value=f"job {state['produced']}")
                state["produced"] += 1
            producer.flush()

    heading(
        ctx,
        "Scaling a consumer group",
        f"Topic '{TOPIC}' has {PARTITIONS} partitions. Consumer processes C1..C{CONSUMERS} join "
        f"group '{GROUP}' one by one (range assignor, session.timeout.ms={session_ms}).",
    )
    feeder = threading.Thread(target=produce, daemon=True)
    feeder.start()
    live = set()
    kill_s = leave_s = 0.0
    killed = left = ""
    try:
        with live_view(ctx, render, plain) as refresh:
            for i in range(1, CONSUMERS + 1):
                name = f"C{i}"
                state["phase"] = f"{name} joins"
                start_worker(name)
                live.add(name)
                took, desc = wait_stable(live)
                own = owners(desc)
                history.append(
                    f"{i} consumer{'s' if i > 1 else ''} (generation {desc.generation}): "
                    + ", ".join(
                        f"{n} {'+'.join(f'p{p}' for p in own[n]) or 'idle'}" for n in sorted(own)
                    )
                )
                refresh()
                time.sleep(step_s)
            desc = describe()
            victim = next(
                m.client_id for m in sorted(desc.members, key=lambda m: m.client_id) if m.assignment
            )
            state["phase"] = (
                f"{victim} killed with SIGKILL: no goodbye, the group waits for its session to time out"
            )
            os.kill(workers[victim]["proc"].pid, signal.SIGKILL)
            workers[victim]["status"] = "killed (SIGKILL)"
            live.discard(victim)
            refresh()
            kill_s, desc = wait_stable(live)
            killed = victim
            history.append(
                f"after killing {victim} (generation {desc.generation}): "
                + ", ".join(
                    f"{n} {'+'.join(f'p{p}' for p in ps) or 'idle'}"
                    for n, ps in sorted(owners(desc).items())
                )
            )
            refresh()
            time.sleep(step_s)
            desc = describe()
            leaver = next(
                m.client_id for m in sorted(desc.members, key=lambda m: m.client_id) if m.assignment
            )
            state["phase"] = f"{leaver} stops cleanly and leaves the group"
            workers[leaver]["stop"].set()
            workers[leaver]["status"] = "left"
            live.discard(leaver)
            t0 = time.monotonic()
            workers[leaver]["proc"].join(20)
            _, desc = wait_stable(live)
            leave_s = time.monotonic() - t0
            left = leaver
            state["phase"] = f"{len(live)} consumers left"
            refresh()
            time.sleep(step_s)
    finally:
        stop_producer.set()
        feeder.join(5)
        for w in workers.values():
            w["stop"].set()
        for w in workers.values():
            w["proc"].join(10)
            if w["proc"].is_alive():
                w["proc"].kill()
    store.close()
    lines = [*history]
    lines += [
        f"a fifth consumer on {PARTITIONS} partitions got nothing: a partition never has two "
        f"consumers in one group, so it idled as a stand-by",
        f"{killed} was killed: its partitions moved after {kill_s:.1f} s, once its session "
        f"timed out (session.timeout.ms = {session_ms})",
        f"{left} left cleanly: its partitions moved after {leave_s:.1f} s",
        "no partition had two owners in any generation"
        if not violations
        else f"ownership problems seen: {violations[:3]}",
    ]
    summary(ctx, lines)
    return lines
