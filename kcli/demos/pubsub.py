"""Demo: publish-subscribe.  One producer, three consumer groups reading the same topic
independently at different speeds, and a fourth that joins late and replays from offset 0.

Each group is a separate consumer process with its own committed offsets; the producer
knows none of them.
"""

from __future__ import annotations

import time

from rich.table import Table

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
from kcli.demos.slow_consumer import group_lag
from storage.constants import STABLE
from storage.groups import GroupStore

TOPIC = "demo-pubsub"
RATE = 100
# (application, records/s it can handle, when it starts as a fraction of the run)
APPS = (("email", 0, 0.0), ("search", 75, 0.0), ("analytics", 50, 0.0), ("archive", 0, 0.5))


def _all_joined(groups, names: list[str]) -> bool:
    known = {g.group: g for g in groups.list_groups()}
    return all(n in known and known[n].state == STABLE and known[n].members for n in names)


def run(ctx: DemoContext) -> list[str]:
    """Publish for a while; every group reads everything, the late one from the start."""

    seconds = ctx.duration(8.0, 1.5)
    store = ctx.store()
    groups = GroupStore(store)
    names = {app: f"{TOPIC}-{app}" for app, _, _ in APPS}
    reset_groups(store, *names.values())
    reset_topic(store, TOPIC, 1)
    mp = _workers.context()
    stop = mp.Event()
    counters = {app: mp.Value("l", 0) for app, _, _ in APPS}
    procs: dict[str, object] = {}
    started_at: dict[str, int] = {}
    state = {"produced": 0}

    def launch(app: str, rate: float) -> None:
        procs[app] = _workers.start(
            _workers.counting_worker,
            str(ctx.data_dir),
            TOPIC,
            names[app],
            app,
            rate,
            counters[app],
            stop,
        )
        started_at[app] = state["produced"]

    def render():
        table = Table(box=None, pad_edge=False, header_style="bold")
        table.add_column("consumer group")
        table.add_column("speed", justify="right")
        table.add_column("joined when published", justify="right")
        table.add_column("read", justify="right")
        table.add_column("lag", justify="right")
        for app, rate, _ in APPS:
            if app not in procs:
                table.add_row(names[app], "", "not started", "", "")
                continue
            read = counters[app].value
            table.add_row(
                names[app],
                f"{rate}/s" if rate else "fast",
                str(started_at[app]),
                str(read),
                str(state["produced"] - read),
            )
        table.caption = f"producer: {state['produced']} records published to '{TOPIC}'"
        return table

    def plain():
        reads = ", ".join(f"{app} {counters[app].value}" for app in procs)
        return f"published {state['produced']}; read: {reads}"

    heading(
        ctx,
        "One producer, many independent readers",
        f"The producer publishes {RATE} records/s to '{TOPIC}'. Four applications read it, "
        f"each in its own consumer group and process; 'archive' starts halfway through.",
    )
    producer = Producer({"data.dir": str(ctx.data_dir)})
    try:
        with live_view(ctx, render, plain):
            for app, rate, at in APPS:
                if at == 0.0:
                    launch(app, rate)
            # Publish once the first readers have joined, so start-up does not hide the race.
            deadline = time.monotonic() + 30
            first = [names[app] for app, _, at in APPS if at == 0.0]
            while time.monotonic() < deadline and not _all_joined(groups, first):
                time.sleep(0.05)
            pacer = Pacer(RATE / 10)
            start = time.monotonic()
            while time.monotonic() - start < seconds:
                pacer.wait()
                for _ in range(10):
                    producer.produce(TOPIC, value=f"news {state['produced']}")
                    state["produced"] += 1
                producer.flush()
                for app, rate, at in APPS:
                    if app not in procs and time.monotonic() - start >= at * seconds:
                        launch(app, rate)
            deadline = time.monotonic() + seconds * 1.5 + 5
            while time.monotonic() < deadline:
                if all(counters[app].value >= state["produced"] for app in procs):
                    break
                time.sleep(0.05)
    finally:
        stop.set()
        for proc in procs.values():
            proc.join(10)
            if proc.is_alive():
                proc.kill()
    total = state["produced"]
    committed = {app: group_lag(store, groups, names[app], TOPIC)[1] for app, _, _ in APPS}
    log = store.log(TOPIC, 0)
    start_offset, end_offset = log.log_start_offset, log.log_end_offset
    store.close()
    everyone = all(counters[app].value == total for app, _, _ in APPS)
    behind = [
        f"{app} {total - counters[app].value}" for app, _, _ in APPS if counters[app].value < total
    ]
    lines = [
        f"{len(APPS)} consumer groups read the same {total} records independently: "
        + ", ".join(f"{app} {counters[app].value}" for app, _, _ in APPS)
        + (
            " (every group got every record)"
            if everyone
            else f"; still behind when the demo stopped: {', '.join(behind)} (those records wait on disk)"
        ),
        f"they read at different speeds without slowing the producer or each other; "
        f"each group committed its own offsets ({', '.join(f'{a} {c}' for a, c in committed.items())})",
        f"'archive' started when {started_at['archive']} records had been published and "
        f"still read from offset 0: a new subscriber can replay the past",
        f"the topic still holds offsets {start_offset}..{end_offset - 1}: reading removed nothing",
    ]
    summary(ctx, lines)
    return lines
