"""Demo: retention deletes whole segments as (simulated) days pass.

The store and its files are real; only time is simulated: the store runs on a FakeClock
that moves one day per step, so a week of retention plays out in seconds.  The topic rolls a
new segment every simulated day (``segment.ms`` = 1 day) and keeps Kafka's default
``retention.ms`` of 7 days; later the demo shortens it to 3 days.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from rich.console import Group
from rich.table import Table
from rich.text import Text

from kcli.demos._common import DemoContext, heading, live_view, reset_topic, summary
from storage import FakeClock, OffsetOutOfRange, ProducerRecord, Store

TOPIC = "demo-retention"
DAY_MS = 86_400_000
SEVEN_DAYS_MS = 7 * DAY_MS
THREE_DAYS_MS = 3 * DAY_MS
RECORDS_PER_DAY = 50


def run(ctx: DemoContext) -> list[str]:
    """Play 14 simulated days with 7-day retention, then 4 more with 3-day retention."""

    step_s = ctx.duration(0.9, 0.08)
    clock = FakeClock(int(datetime(2024, 1, 1, 12, tzinfo=UTC).timestamp() * 1000))
    store = Store(ctx.data_dir, clock=clock)
    reset_topic(store, TOPIC, 1, {"segment.ms": str(DAY_MS)})
    log = store.log(TOPIC, 0)
    start_day = clock.now_ms() // DAY_MS
    state = {"day": 0, "deleted": [], "retention": SEVEN_DAYS_MS, "note": ""}

    def day_of(ts: int) -> int:
        return ts // DAY_MS - start_day + 1

    def render():
        table = Table(box=None, pad_edge=False, header_style="bold")
        table.add_column("segment file")
        table.add_column("offsets", justify="right")
        table.add_column("written on", justify="right")
        table.add_column("")
        for seg in log.segments():
            last = seg.next_offset - 1
            offsets = f"{seg.base_offset}-{last}" if last >= seg.base_offset else "(empty)"
            written = f"day {day_of(seg.largest_timestamp)}" if seg.largest_timestamp > 0 else ""
            table.add_row(
                seg.path.name, offsets, written, Text("active", "green") if seg.active else ""
            )
        head = Text.assemble(
            (f"Day {state['day']:>2}", "bold"),
            f"   retention.ms = {state['retention']} ({state['retention'] // DAY_MS} days)\n",
            ("log_start_offset ", "dim"),
            (str(log.log_start_offset), "bold cyan"),
            ("  log_end_offset ", "dim"),
            (str(log.log_end_offset), "bold"),
        )
        gone = state["deleted"][-2:]
        tail = Text(
            "\n".join(f"deleted: {name}" for name in gone) if gone else "deleted: nothing yet",
            style="red",
        )
        return Group(head, table, tail)

    def plain():
        return (
            f"day {state['day']}: segments {len(log.segments())}, log_start_offset "
            f"{log.log_start_offset}, log_end_offset {log.log_end_offset}, deleted "
            f"{len(state['deleted'])} segment(s)"
        )

    first_deletion_day = None

    def one_day() -> None:
        nonlocal first_deletion_day
        state["day"] += 1
        day = state["day"]
        records = [
            ProducerRecord(value=f"day {day} event {i}".encode()) for i in range(RECORDS_PER_DAY)
        ]
        before = {s.base_offset: s.largest_timestamp for s in log.segments()}
        log.append_records(records)
        after = {s.base_offset for s in log.segments()}
        for base in sorted(set(before) - after):
            written = day_of(before[base])
            state["deleted"].append(f"{base:020d}.log (written day {written}, deleted day {day})")
            if first_deletion_day is None:
                first_deletion_day = day
        clock.advance(DAY_MS + 60_000)  # a minute past the day, so segment.ms (1 day) rolls

    heading(
        ctx,
        "Retention on a simulated clock",
        f"Each step is one day: {RECORDS_PER_DAY} records are appended and a new segment rolls "
        "(segment.ms = 1 day). Kafka's default retention.ms is 7 days.",
    )
    with live_view(ctx, render, plain) as refresh:
        for _ in range(14):
            one_day()
            refresh()
            time.sleep(step_s)
        start_after_week = log.log_start_offset
        deleted_week = len(state["deleted"])
        state["retention"] = THREE_DAYS_MS
        store.alter_topic(TOPIC, config={"retention.ms": str(THREE_DAYS_MS)})
        log = store.log(TOPIC, 0)
        for _ in range(4):
            one_day()
            refresh()
            time.sleep(step_s)
    error = ""
    try:
        log.read_records(0, max_records=1)
    except OffsetOutOfRange as exc:
        error = str(exc)
    end = log.log_end_offset
    start = log.log_start_offset
    store.close()
    lines = [
        f"with retention.ms = {SEVEN_DAYS_MS} (7 days), the first segment was deleted on day "
        f"{first_deletion_day}, once its newest record was more than 7 days old; after 14 days "
        f"{deleted_week} segments were gone and log_start_offset was {start_after_week}",
        f"after changing retention.ms to {THREE_DAYS_MS} (3 days), the next roll deleted "
        f"more: log_start_offset is now {start}, log_end_offset {end}",
        "retention deletes whole closed segments, never the active one, whether or not "
        "anyone has read them; offsets are never reused",
        f"reading offset 0 now fails: {error}" if error else "offset 0 can still be read",
        "time was simulated (a fake clock, one day per step); the files and deletions were real",
    ]
    summary(ctx, lines)
    return lines
