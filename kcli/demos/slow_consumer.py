"""Demo: a traffic spike.  A consumer group's lag grows while the producer is faster, then
drains; every record is consumed, nothing is dropped and the producer never waits.

A producer thread writes 1000 records/s during the spike, then 100/s; one consumer process
in the group reads at most 400/s.  Lag is computed as Kafka does: log-end offset minus the
group's committed offset, summed over the partitions.
"""

from __future__ import annotations

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
from storage.groups import GroupStore

TOPIC = "demo-slow-consumer"
GROUP = "demo-slow-consumer"
SPIKE_RATE = 1000
QUIET_RATE = 100
CONSUMER_RATE = 400
SPARK = "▁▂▃▄▅▆▇█"


def group_lag(store, groups, group: str, topic: str) -> tuple[int, int]:
    """(log-end offset total, committed total) for ``group`` on ``topic``."""
    meta = store.topic(topic)
    committed = groups.fetch_offsets(group, [(topic, p) for p in range(meta.partitions)])
    end = sum(store.log(topic, p).log_end_offset for p in range(meta.partitions))
    done = sum(
        committed[(topic, p)].offset for p in range(meta.partitions) if (topic, p) in committed
    )
    return end, done


def run(ctx: DemoContext) -> list[str]:
    """Spike, then quiet; watch the lag rise and drain."""

    spike_s = ctx.duration(5.0, 1.0)
    store = ctx.store()
    reset_groups(store, GROUP)
    reset_topic(store, TOPIC, 2)
    groups = GroupStore(store)
    mp = _workers.context()
    counter, stop = mp.Value("l", 0), mp.Event()
    worker = _workers.start(
        _workers.counting_worker,
        str(ctx.data_dir),
        TOPIC,
        GROUP,
        "consumer-1",
        CONSUMER_RATE,
        counter,
        stop,
    )
    producer = Producer({"data.dir": str(ctx.data_dir)})
    state = {"produced": 0, "phase": "starting the consumer", "lag": 0, "committed": 0}
    history: list[int] = []
    peak = (0, 0.0)

    def render():
        table = Table(box=None, pad_edge=False, header_style="bold")
        table.add_column("")
        table.add_column("records", justify="right")
        table.add_row("produced (log-end offset)", str(state["produced"]))
        table.add_row("consumed", str(counter.value))
        table.add_row("committed by the group", str(state["committed"]))
        table.add_row(Text("lag", style="bold"), Text(str(state["lag"]), style="bold yellow"))
        top = max(history) if history else 0
        line = "".join(SPARK[min(7, int(8 * v / (top + 1)))] for v in history[-60:])
        return Group(
            Text(state["phase"], style="bold"),
            table,
            Text.assemble(("lag over time ", "dim"), (line, "yellow")),
        )

    def plain():
        return (
            f"{state['phase']}: produced {state['produced']}, consumed {counter.value}, "
            f"lag {state['lag']}"
        )

    heading(
        ctx,
        "A traffic spike",
        f"Producer: {SPIKE_RATE} records/s for {spike_s:.0f} s, then {QUIET_RATE}/s. Consumer "
        f"group '{GROUP}': one process reading at most {CONSUMER_RATE}/s.",
    )
    started = time.monotonic()
    produce_wait = 0.0
    try:
        with live_view(ctx, render, plain):
            # Wait until the consumer has joined, so the spike is not absorbed by start-up.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                desc = groups.describe_group(GROUP) if GROUP in _group_names(groups) else None
                if desc is not None and desc.state == STABLE and desc.members:
                    break
                time.sleep(0.05)
            started = time.monotonic()
            last_sample = 0.0
            for phase, rate, length in (
                ("spike: 1000 records/s", SPIKE_RATE, spike_s),
                ("quiet: 100 records/s", QUIET_RATE, spike_s * 6),
            ):
                state["phase"] = phase
                pacer = Pacer(rate / 10)  # ten records per flush
                end = time.monotonic() + length
                while time.monotonic() < end:
                    pacer.wait()
                    t = time.monotonic()
                    for _ in range(10):
                        producer.produce(TOPIC, value=f"order {state['produced']}")
                        state["produced"] += 1
                    producer.flush()
                    produce_wait += time.monotonic() - t
                    if time.monotonic() - last_sample > 0.1:
                        last_sample = time.monotonic()
                        end_offset, committed = group_lag(store, groups, GROUP, TOPIC)
                        state["lag"], state["committed"] = end_offset - committed, committed
                        history.append(state["lag"])
                        if state["lag"] > peak[0]:
                            peak = (state["lag"], time.monotonic() - started)
                    # Caught up (what is left is the auto-commit interval's worth): stop.
                    if phase.startswith("quiet") and state["produced"] - counter.value < 20:
                        break
            state["phase"] = "producer stopped; draining"
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                end_offset, committed = group_lag(store, groups, GROUP, TOPIC)
                state["lag"], state["committed"] = end_offset - committed, committed
                history.append(state["lag"])
                if state["lag"] == 0:
                    break
                time.sleep(0.1)
            drained_at = time.monotonic() - started
            state["phase"] = "lag drained"
    finally:
        stop.set()
        worker.join(10)
        if worker.is_alive():
            worker.kill()
    end_offset, committed = group_lag(store, groups, GROUP, TOPIC)
    store.close()
    lines = [
        f"during the spike the lag grew to {peak[0]} records ({peak[1]:.1f} s in): the "
        f"records waited on disk while the consumer worked through them",
        f"once the producer slowed down the group caught up: lag 0 after {drained_at:.1f} s",
        f"nothing lost: {end_offset} records produced, {counter.value} consumed, "
        f"committed offsets at {committed} (log-end {end_offset})",
        f"the producer never waited for the consumer: {produce_wait:.1f} s in total went "
        f"into writing (and fsyncing) its batches",
        f"see the group afterwards with: kcli group describe {GROUP}",
    ]
    summary(ctx, lines)
    return lines


def _group_names(groups) -> set[str]:
    return {g.group for g in groups.list_groups()}
