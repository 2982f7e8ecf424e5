"""Demo: an IoT fleet.  A producer process simulates many devices sending temperature readings
keyed by device id; a consumer group of processor processes keeps per-device state and raises
alerts.  Keys keep each device's readings in one partition, so exactly one processor sees a
given device.
"""

from __future__ import annotations

import time

from rich.console import Group
from rich.table import Table
from rich.text import Text

from kcli.demos import _workers
from kcli.demos._common import (
    DemoContext,
    heading,
    live_view,
    reset_groups,
    reset_topic,
    summary,
    wait_for_stable_group,
)
from storage.groups import GroupStore

TOPIC = "demo-iot-readings"
GROUP = "demo-iot-processors"
PARTITIONS = 6
PROCESSORS = 3
THRESHOLD = 35.0


def run(ctx: DemoContext, *, devices: int = 1000) -> list[str]:
    """Run the fleet and the processors; check each device was handled by one processor."""

    seconds = ctx.duration(8.0, 1.5)
    per_second = 2
    store = ctx.store()
    reset_groups(store, GROUP)
    reset_topic(store, TOPIC, PARTITIONS)
    groups = GroupStore(store)
    mp = _workers.context()
    stop = mp.Event()
    results = mp.Queue()
    sent = mp.Value("l", 0)
    names = [f"processor-{i}" for i in range(1, PROCESSORS + 1)]
    counts = {n: mp.Value("l", 0) for n in names}
    alerts = {n: mp.Value("l", 0) for n in names}
    procs = [
        _workers.start(
            _workers.iot_worker,
            str(ctx.data_dir),
            TOPIC,
            GROUP,
            n,
            THRESHOLD,
            counts[n],
            alerts[n],
            stop,
            results,
        )
        for n in names
    ]
    fleet = None
    started = time.monotonic()

    def owned() -> dict[str, str]:
        if not any(g.group == GROUP for g in groups.list_groups()):
            return {}
        desc = groups.describe_group(GROUP)
        return {m.client_id: " ".join(f"p{p}" for _, p in m.assignment) for m in desc.members}

    def render():
        own = owned()
        elapsed = max(time.monotonic() - started, 1e-3)
        table = Table(box=None, pad_edge=False, header_style="bold")
        table.add_column("processor (group " + GROUP + ")")
        table.add_column("partitions")
        table.add_column("readings", justify="right")
        table.add_column("alerts", justify="right")
        for n in names:
            table.add_row(n, own.get(n, "joining..."), str(counts[n].value), str(alerts[n].value))
        processed = sum(c.value for c in counts.values())
        head = Text.assemble(
            (f"{devices} devices", "bold"),
            f"  sent {sent.value} readings ({sent.value / elapsed:.0f}/s)   ",
            ("lag ", "dim"),
            (str(sent.value - processed), "yellow"),
        )
        return Group(head, table)

    def plain():
        processed = sum(c.value for c in counts.values())
        return f"sent {sent.value}, processed {processed}, alerts {sum(a.value for a in alerts.values())}"

    heading(
        ctx,
        "An IoT fleet",
        f"{devices} simulated devices send {per_second} readings/s each to '{TOPIC}' "
        f"({PARTITIONS} partitions, key = device id); {PROCESSORS} processor processes in "
        f"group '{GROUP}' keep per-device averages and alert above {THRESHOLD:.0f} °C.",
    )
    done: list[tuple[str, list[str], list[str]]] = []
    try:
        with live_view(ctx, render, plain):
            wait_for_stable_group(groups, GROUP, PROCESSORS)
            started = time.monotonic()
            fleet = _workers.start(
                _workers.iot_fleet,
                str(ctx.data_dir),
                TOPIC,
                devices,
                per_second,
                seconds,
                sent,
                stop,
            )
            fleet.join(seconds + 60)
            deadline = time.monotonic() + 30
            while (
                time.monotonic() < deadline and sum(c.value for c in counts.values()) < sent.value
            ):
                time.sleep(0.05)
            elapsed = time.monotonic() - started
    finally:
        stop.set()
        for _ in procs:
            try:
                done.append(results.get(timeout=20))
            except Exception:
                break
        for p in [*procs, *([fleet] if fleet else [])]:
            p.join(10)
            if p.is_alive():
                p.kill()
    store.close()
    seen: dict[str, list[str]] = {}
    alerting: set[str] = set()
    for name, devs, hot in done:
        for d in devs:
            seen.setdefault(d, []).append(name)
        alerting.update(hot)
    shared = [d for d, who in seen.items() if len(who) > 1]
    processed = sum(c.value for c in counts.values())
    lines = [
        f"{devices} devices sent {sent.value} readings in {elapsed:.1f} s "
        f"({sent.value / max(elapsed, 1e-3):.0f}/s), keyed by device id",
        f"{PROCESSORS} processors shared the {PARTITIONS} partitions and processed {processed}: "
        + ", ".join(f"{n} {counts[n].value}" for n in names),
        f"{len(seen)} devices were seen, "
        + (
            "each by exactly one processor: same key, same partition, same owner"
            if not shared
            else f"{len(shared)} of them by more than one processor (a rebalance happened)"
        ),
        f"{len(alerting)} devices raised alerts above {THRESHOLD:.0f} °C "
        f"({sum(a.value for a in alerts.values())} readings)",
    ]
    summary(ctx, lines)
    return lines
