"""Demo: a compacted topic is a table — the log cleaner keeps the latest record of every key.

Five users update their profiles again and again; every update is a record keyed by the user.
The demo draws each segment offset by offset (a letter per user, ``·`` for an offset the
cleaner removed), before and after a cleaning round, then deletes one user with a tombstone
and shows it kept for ``delete.retention.ms`` and then dropped.  The store, its files and the
cleaner are real; only time is simulated (a fake clock), so ``min.compaction.lag.ms`` and
``delete.retention.ms`` pass in seconds.
"""

from __future__ import annotations

import time

from rich.console import Group
from rich.table import Table
from rich.text import Text

from kcli.demos._common import DemoContext, heading, live_view, reset_topic, summary
from storage import FakeClock, ProducerRecord, Store

TOPIC = "demo-compaction"
USERS = ("alice", "bob", "carol", "dave", "erin")
COLORS = {"alice": "cyan", "bob": "magenta", "carol": "green", "dave": "yellow", "erin": "blue"}
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
UPDATES = 60


def segment_rows(log) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(file name, offsets, [(letter, style) per offset]) for every segment of ``log``."""
    records = {r.offset: r for r in log.read_records(log.log_start_offset, max_records=100_000)}
    rows = []
    for seg in log.segments():
        cells = []
        for offset in range(seg.base_offset, seg.next_offset):
            r = records.get(offset)
            if r is None:
                cells.append(("·", "dim"))
            else:
                user = r.key.decode()
                letter = user[0].upper() if r.value is None else user[0]
                cells.append((letter, "bold red" if r.value is None else COLORS.get(user, "")))
        span = f"{seg.base_offset}-{seg.next_offset - 1}" if cells else "(empty)"
        rows.append((seg.path.name + (" active" if seg.active else ""), span, cells))
    return rows


def picture(log, title: str) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold", title=title, title_justify="left")
    table.add_column("segment")
    table.add_column("offsets", justify="right")
    table.add_column("records, one letter per offset (· removed by the cleaner)")
    for name, span, cells in segment_rows(log):
        text = Text()
        for letter, style in _squeezed(cells):
            text.append(letter, style)
        table.add_row(name, span, text)
    return table


def _squeezed(cells: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """A run of more than 8 removed offsets as ``·×N`` so that a segment fits on a line."""
    out: list[tuple[str, str]] = []
    run = 0
    for cell in [*cells, ("", "")]:
        if cell[0] == "·":
            run += 1
            continue
        if run > 8:
            out.append((f"·×{run}·", "dim"))
        else:
            out += [("·", "dim")] * run
        run = 0
        if cell[0]:
            out.append(cell)
    return out


def plain_picture(log) -> list[str]:
    return [
        f"{name:<32} {span:>7}  {''.join(letter for letter, _s in _squeezed(cells))}"
        for name, span, cells in segment_rows(log)
    ]


def _show(ctx: DemoContext, log, title: str) -> None:
    if ctx.interactive:
        ctx.console.print(picture(log, title))
        return
    ctx.console.print(f"  {title}:")
    for line in plain_picture(log):
        ctx.console.print(f"  {line}", highlight=False)


def as_table(log) -> dict[str, str | None]:
    """What consuming from the beginning leaves: the latest value of every key."""
    table: dict[str, str | None] = {}
    for r in log.read_records(log.log_start_offset, max_records=100_000):
        table[r.key.decode()] = None if r.value is None else r.value.decode()
    return {k: v for k, v in table.items() if v is not None}


def run(ctx: DemoContext) -> list[str]:
    """Update five profiles many times, clean, delete one user with a tombstone."""

    step_s = ctx.duration(0.12, 0.01)
    clock = FakeClock()
    store = Store(ctx.data_dir, clock=clock)
    # Tiny segments, so the updates fill several; records must be an hour old before the
    # cleaner takes them (min.compaction.lag.ms), so it waits until the demo moves the clock.
    reset_topic(
        store,
        TOPIC,
        1,
        {
            "cleanup.policy": "compact",
            "segment.bytes": "1100",
            "min.compaction.lag.ms": str(HOUR_MS),
        },
    )
    log = store.log(TOPIC, 0)
    state = {"phase": "writing", "title": "Writing profile updates"}

    def render():
        return Group(
            Text.assemble(
                (state["title"], "bold"),
                ("   log_end_offset ", "dim"),
                (str(log.log_end_offset), "bold"),
            ),
            picture(log, ""),
        )

    def plain():
        return f"{state['title']}: log_end_offset {log.log_end_offset}"

    heading(
        ctx,
        "A topic as a table: log compaction",
        f"{len(USERS)} users update their profiles {UPDATES} times in all, keyed by user "
        "(a letter per record: a = alice, b = bob...). cleanup.policy=compact.",
    )
    with live_view(ctx, render, plain) as refresh:
        for i in range(UPDATES):
            user = USERS[i % len(USERS)] if i % 3 else "alice"  # alice edits the most
            log.append_records([ProducerRecord(f"{user} v{i}".encode(), key=user.encode())])
            clock.advance(1000)
            refresh()
            time.sleep(step_s)
    before = plain_picture(log)
    before_records = log.log_end_offset
    closed_before = sum(1 for s in log.segments() if not s.active)
    if not ctx.interactive:  # on a terminal, the live view's last frame is the picture
        for line in before:
            ctx.console.print(f"  {line}", highlight=False)

    heading(
        ctx,
        "The cleaner runs",
        "An hour later every closed segment is old enough (min.compaction.lag.ms): the cleaner "
        "maps each key's latest offset, rewrites the closed segments keeping only those, and "
        "swaps them in. The active segment is never cleaned.",
    )
    clock.advance(HOUR_MS)
    result = store.compact_topic(TOPIC)[0]
    _show(ctx, log, "After cleaning")
    kept = log.read_records(0, max_records=100_000)
    active_base = log.segments()[-1].base_offset
    cleaned = [r for r in kept if r.offset < active_base]
    keys_cleaned = {r.key for r in cleaned}
    offsets_kept = [r.offset for r in cleaned]

    heading(
        ctx,
        "A tombstone deletes bob",
        "A record with key bob and a null value (a tombstone). The cleaner keeps it for "
        "delete.retention.ms (1 day), so that consumers see the delete, then drops it.",
    )
    log.append_records([ProducerRecord(None, key=b"bob")])
    for i in range(12):  # more updates roll the segment holding the tombstone
        user = USERS[i % len(USERS)]
        if user != "bob":
            log.append_records([ProducerRecord(f"{user} w{i}".encode(), key=user.encode())])
    clock.advance(HOUR_MS)
    store.compact_topic(TOPIC)
    tombstone_kept = any(r.key == b"bob" and r.value is None for r in log.read_records(0, 100_000))
    _show(ctx, log, "Cleaned again: bob's tombstone (B) is kept, his older records are gone")
    clock.advance(DAY_MS)
    store.compact_topic(TOPIC)
    bob_left = [r for r in log.read_records(0, max_records=100_000) if r.key == b"bob"]
    _show(ctx, log, "A day later (delete.retention.ms): the tombstone is gone too")
    table = as_table(log)
    store.close()
    lines = [
        f"before cleaning: {before_records} records for {len(USERS)} keys in {closed_before} "
        f"closed segments and the active one",
        f"the cleaner read {result.records_read} records, mapped {result.keys_mapped} keys and "
        f"removed {result.records_removed}: the closed segments now hold "
        f"{len(cleaned)} records, one per key ({len(keys_cleaned)} keys)",
        f"records keep their offsets, so the log has gaps: the closed segments kept offsets "
        f"{', '.join(map(str, offsets_kept))}",
        "the active segment was never cleaned: its records are all still there",
        f"bob's tombstone was {'kept' if tombstone_kept else 'NOT kept'} for "
        f"delete.retention.ms, then removed: bob has {len(bob_left)} records left",
        "consuming from the beginning now gives the table: "
        + ", ".join(f"{k}={v}" for k, v in sorted(table.items())),
        "time was simulated (a fake clock); the files, the cleaner and its swaps were real",
    ]
    summary(ctx, lines)
    return lines
