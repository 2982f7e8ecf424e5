"""Demo: source -> process -> sink.  Checkout counters produce purchases; a billing consumer
group (two processes) turns each purchase into an invoice, produced to an invoices topic and
written as a file; offsets are committed after the sink, so nothing is lost on a crash.
"""

from __future__ import annotations

import json
import random
import shutil
import threading
import time
from pathlib import Path

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
    wait_for_stable_group,
)
from storage.groups import GroupStore

SOURCE = "demo-pipeline-purchases"
SINK = "demo-pipeline-invoices"
GROUP = "demo-pipeline-billing"
FILES_DIR = "demo-pipeline"
COUNTERS = 3
BILLERS = 2
CUSTOMERS = ("alice", "bob", "carol", "dave", "erin", "frank", "gina", "hugo")
ITEMS = (("coffee", 3.2), ("book", 12.5), ("lamp", 24.0), ("mug", 7.9), ("pen", 1.5))


def run(ctx: DemoContext, *, out: str | None = None) -> list[str]:
    """Run the counters and the billing group; count purchases, invoices and files."""

    seconds = ctx.duration(8.0, 1.5)
    out_dir = Path(out) if out else ctx.data_dir / FILES_DIR / "invoices"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    store = ctx.store()
    reset_groups(store, GROUP)
    reset_topic(store, SOURCE, 4)
    reset_topic(store, SINK, 2)
    groups = GroupStore(store)
    mp = _workers.context()
    stop = mp.Event()
    billed = {f"biller-{i}": mp.Value("l", 0) for i in range(1, BILLERS + 1)}
    procs = [
        _workers.start(
            _workers.billing_worker,
            str(ctx.data_dir),
            SOURCE,
            SINK,
            GROUP,
            name,
            str(out_dir),
            counter,
            stop,
        )
        for name, counter in billed.items()
    ]
    rung = {c: 0 for c in range(1, COUNTERS + 1)}
    stop_counters = threading.Event()

    def counter(number: int) -> None:
        producer = Producer({"data.dir": str(ctx.data_dir)})
        rng = random.Random(number)
        pacer = Pacer(20)
        while not stop_counters.is_set():
            pacer.wait()
            item, price = rng.choice(ITEMS)
            purchase = {
                "counter": number,
                "customer": rng.choice(CUSTOMERS),
                "item": item,
                "amount": price,
            }
            producer.produce(SOURCE, key=purchase["customer"], value=json.dumps(purchase))
            producer.flush()
            rung[number] += 1

    def files() -> int:
        return sum(1 for _ in out_dir.rglob("INV-*.txt"))

    def render():
        desc = (
            groups.describe_group(GROUP)
            if any(g.group == GROUP for g in groups.list_groups())
            else None
        )
        owned = (
            {m.client_id: " ".join(f"p{p}" for _, p in m.assignment) for m in desc.members}
            if desc
            else {}
        )
        table = Table(box=None, pad_edge=False, header_style="bold")
        table.add_column("stage")
        table.add_column("who")
        table.add_column("records", justify="right")
        for c, n in rung.items():
            table.add_row("source" if c == 1 else "", f"counter {c} → {SOURCE}", str(n))
        for name, value in billed.items():
            table.add_row(
                "process" if name.endswith("-1") else "",
                f"{name} (group {GROUP}) owns {owned.get(name, '...')}",
                str(value.value),
            )
        sink_count = sum(store.log(SINK, p).log_end_offset for p in range(2))
        table.add_row("sink", f"topic {SINK}", str(sink_count))
        table.add_row("", f"invoice files in {out_dir}", str(files()))
        return Group(Text("Billing pipeline", style="bold"), table)

    def plain():
        return (
            f"purchases {sum(rung.values())}, billed {sum(v.value for v in billed.values())}, "
            f"invoice files {files()}"
        )

    heading(
        ctx,
        "Source -> process -> sink",
        f"{COUNTERS} checkout counters produce purchases (keyed by customer) to '{SOURCE}'; "
        f"{BILLERS} billing processes in group '{GROUP}' add VAT and write each invoice to "
        f"'{SINK}' and to a file.",
    )
    try:
        with live_view(ctx, render, plain):
            wait_for_stable_group(groups, GROUP, BILLERS)
            threads = [threading.Thread(target=counter, args=(c,), daemon=True) for c in rung]
            for t in threads:
                t.start()
            time.sleep(seconds)
            stop_counters.set()
            for t in threads:
                t.join()
            total = sum(rung.values())
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and sum(v.value for v in billed.values()) < total:
                time.sleep(0.05)
    finally:
        stop.set()
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()
    purchases = sum(store.log(SOURCE, p).log_end_offset for p in range(4))
    invoices = sum(store.log(SINK, p).log_end_offset for p in range(2))
    committed = groups.fetch_offsets(GROUP)
    committed_total = sum(o.offset for (t, _), o in committed.items() if t == SOURCE)
    n_files = files()
    example = sorted(out_dir.rglob("INV-*.txt"))[:1]
    store.close()
    lines = [
        f"source: {COUNTERS} counters produced {purchases} purchases to '{SOURCE}'",
        f"process: {BILLERS} billing processes shared its 4 partitions ("
        + ", ".join(f"{n} billed {v.value}" for n, v in billed.items())
        + ")",
        f"sink: {invoices} invoices in '{SINK}' and {n_files} invoice files in {out_dir}",
        f"committed offsets reached {committed_total} of {purchases}: the group commits after "
        f"writing the sink (at-least-once); files named by partition and offset make a retry "
        f"rewrite the same invoice instead of billing twice",
    ]
    if example:
        lines.append(f"look at one: {example[0]}")
    summary(ctx, lines)
    return lines
