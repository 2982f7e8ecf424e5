"""Producers that get killed with SIGKILL, and what must hold afterwards.

Shared by the crash tests and ``benchmarks/soak_crash.py``.  A producer appends batches in a
loop and, after each append returns (fsynced), appends ``<seq> <base offset> <last offset>``
to its acknowledgement file: what it would have told its caller.  The page cache survives a
killed process, so every acknowledgement written is there to read after the kill.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from pathlib import Path

from storage import ProducerRecord, Store
from storage.records import encode_batch

MODES = ("records", "batches", "idempotent")
PRODUCER_ID_BASE = 1000


def batch_values(seed: int, child: int, seq: int) -> list[bytes]:
    """The values of a producer's batch number ``seq``: the same in the child and the check."""
    rng = random.Random(f"{seed}/{child}/{seq}")
    n = rng.randint(1, 30)
    size = rng.choice((8, 100, 1000, 30_000))
    return [b"c%d:%d:%d:" % (child, seq, i) + b"." * rng.randint(0, size) for i in range(n)]


def batch_cuts(seq: int, n: int) -> list[int]:
    """Where the "batches" mode cuts a call's records into batches: [0, ..., n]."""
    cuts = random.Random(seq).sample(range(1, n), min(2, n - 1)) if n > 1 else []
    return sorted({0, n, *cuts})


def first_sequence(seed: int, child: int, seq: int) -> int:
    return sum(len(batch_values(seed, child, s)) for s in range(seq))


def produce(data_dir: str, topic: str, child: int, mode: str, seed: int, ack_path: str) -> None:
    """Append forever (until killed), acknowledging each append after it returns."""
    log = Store(data_dir).log(topic, 0)
    acks = os.open(ack_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    sequence = 0
    seq = 0
    while True:
        values = batch_values(seed, child, seq)
        records = [ProducerRecord(v) for v in values]
        if mode == "records":
            info = log.append_records(records)
        elif mode == "batches":
            # Several batches in one append: written with one writev, acknowledged together.
            now = int(time.time() * 1000)
            cut = batch_cuts(seq, len(records))
            batches = [
                encode_batch(records[a:b], timestamp=now)
                for a, b in zip(cut, cut[1:], strict=False)
            ]
            info = log.append(batches)
        else:
            info = log.append_records(
                records,
                producer_id=PRODUCER_ID_BASE + child,
                producer_epoch=0,
                base_sequence=sequence,
            )
        os.write(acks, b"%d %d %d\n" % (seq, info.base_offset, info.last_offset))
        sequence += len(values)
        seq += 1


def start_trial(ctx, store: Store, work: Path, topic: str, seed: int, rng: random.Random) -> dict:
    """Create ``topic`` (small, random segments) and start two producers on it in two of the
    modes, as ``ctx`` processes; returns {child: (mode, process, ack path)}."""
    store.create_topic(
        topic,
        1,
        {
            "segment.bytes": str(rng.choice([20_000, 200_000, 2_000_000])),
            "index.interval.bytes": "1000",
        },
    )
    children = {}
    for child, mode in enumerate(rng.sample(MODES, 2), start=1):
        ack = work / f"{topic}-{child}.acks"
        proc = ctx.Process(
            target=produce,
            args=(str(store.data_dir), topic, child, mode, seed, str(ack)),
            daemon=True,
        )
        proc.start()
        children[child] = (mode, proc, ack)
    return children


def tear_tail(data_dir, topic: str, rng: random.Random) -> int:
    """Leave what a writer killed in the middle of a write leaves: the first bytes of a batch
    (of a producer that acknowledged nothing) at the end of the active segment; and damage
    indexes.  Returns how many bytes were added."""
    directory = Path(data_dir) / f"{topic}-0"
    logs = sorted(directory.glob("*.log"))
    data = logs[-1].read_bytes()
    pos = 0
    while pos + 12 <= len(data):
        pos += int.from_bytes(data[pos + 8 : pos + 12], "big") + 12
    if pos != len(data):
        return 0  # the kill did land inside a write: that torn tail is the test
    values = [ProducerRecord(b"c9:0:%d:" % i + b"torn" * 100) for i in range(10)]
    batch = encode_batch(values, timestamp=int(time.time() * 1000))
    cut = rng.randrange(1, len(batch))
    with open(logs[-1], "ab") as f:
        f.write(batch[:cut])
    victim = rng.choice(logs)
    victim.with_suffix(".index").unlink(missing_ok=True)
    victim.with_suffix(".timeindex").unlink(missing_ok=True)
    damaged = rng.choice(logs).with_suffix(".timeindex")
    if damaged.exists():
        damaged.write_bytes(damaged.read_bytes() + b"\x01\x02\x03")  # a partial entry
    return cut


def read_acks(path: Path) -> list[tuple[int, int, int]]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return [
        tuple(map(int, line.split()))
        for line in text.splitlines(keepends=True)
        if line.endswith("\n")
    ]


def read_all(log) -> list:
    out = []
    offset = log.log_start_offset
    while got := log.read_records(offset, None, max_bytes=1 << 20):
        out += got
        offset = got[-1].offset + 1
    return out


def kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def verify(
    data_dir, topic: str, seed: int, children: dict[int, str], acks: dict, torn: int = 0
) -> dict:
    """Check a partition after its producers were killed; return a few counts.

    Every acknowledged batch is there exactly once at its acknowledged offsets; every batch
    that is there (acknowledged or not) is there once and whole; offsets are contiguous; a
    reader needs no repair to read it; recover() works and check() passes afterwards; an
    idempotent producer that restarts and resends its first unacknowledged batch gets it
    appended exactly once.
    """
    store = Store(data_dir)
    log = store.log(topic, 0)
    before = read_all(log)  # a reader, before any repair: a torn tail must not bother it
    report = log.recover()
    if torn:
        assert report.truncated_bytes == torn, (report, torn)
        assert report.rebuilt_indexes
    records = read_all(log)
    assert records[: len(before)] == before
    assert [r.offset for r in records] == list(range(len(records)))
    assert log.log_end_offset == len(records)
    keys = []
    for r in records:
        child, seq, i, _ = r.value.split(b":", 3)
        keys.append((int(child[1:]), int(seq), int(i)))
    duplicated = [k for k, n in Counter(keys).items() if n > 1]
    assert not duplicated, f"records appended twice: {duplicated[:5]}"
    where = {k: o for o, k in enumerate(keys)}
    present_batches = {(c, s) for c, s, _ in keys}
    for child, seq in present_batches:
        values = batch_values(seed, child, seq)
        offsets = [where.get((child, seq, i)) for i in range(len(values))]
        present = len(offsets) - offsets.count(None)
        if children.get(child) == "batches":
            # One call, several batches: a kill may leave the first batches of the call (a
            # batch is the unit of atomicity), never part of a batch.
            assert present in batch_cuts(seq, len(values)), f"{child}/{seq}: part of a batch"
        else:
            assert present == len(values), f"batch {child}/{seq} is only partly there"
        values = values[:present]
        offsets = offsets[:present]
        first = offsets[0]
        assert offsets == list(range(first, first + present)), f"batch {child}/{seq} split"
        assert [records[o].value for o in offsets] == values
    acked = 0
    for child, lines in acks.items():
        for seq, base, last in lines:
            values = batch_values(seed, child, seq)
            assert last - base + 1 == len(values)
            assert keys[base : last + 1] == [(child, seq, i) for i in range(len(values))], (
                f"acknowledged batch {child}/{seq} is not whole at offsets {base}..{last}"
            )
            acked += 1
    log.check()
    resent = 0
    for child, mode in children.items():
        if mode != "idempotent":
            continue
        seq = max((s for s, _, _ in acks.get(child, [])), default=-1) + 1
        values = batch_values(seed, child, seq)
        info = log.append_records(
            [ProducerRecord(v) for v in values],
            producer_id=PRODUCER_ID_BASE + child,
            producer_epoch=0,
            base_sequence=first_sequence(seed, child, seq),
        )
        if (child, seq) in present_batches:
            assert info.duplicate and info.base_offset == where[(child, seq, 0)]
            resent += 1
        else:
            assert not info.duplicate and info.base_offset == len(records)
            records = read_all(log)
    after = log.append_records([ProducerRecord(b"c0:-1:0:after")])
    assert after.base_offset == len(read_all(log)) - 1
    store.close()
    return {
        "records": len(records),
        "acknowledged_batches": acked,
        "unacknowledged_batches_present": len(present_batches) - acked,
        "truncated_bytes": report.truncated_bytes,
        "idempotent_retries_deduplicated": resent,
    }
