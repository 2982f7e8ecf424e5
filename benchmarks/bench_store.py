"""The store against stdlib sqlite3, on the same machine, in one run.

Workloads (both sides):
  produce   1,000,000 records with 100-byte values; durable every 1000 records.
            The store: ``append_records(1000 values, fsync=True)``, one call after the other;
            and pipelined: ``append_records(..., fsync=False)`` then ``flush()`` handed to a
            flusher thread, so the next 1000 records are encoded while the disk syncs (a
            chunk counts as acknowledged once an fsync that began after its write ended;
            flushes arriving during an fsync share the next one).
            sqlite3: a 1000-row transaction per chunk, WAL mode, synchronous=NORMAL (which
            does not fsync at commit at all).
            And the same records as encoded batches through ``append`` (the path a Produce
            request takes: every batch is validated record by record first).
  read      all of them back in offset order, touching every value
  point     10,000 reads of one record at a random offset, in a 1,000,000-record partition
            and in a 10,000-record one

Each figure is the best of a few runs, the two sides interleaved: the machine is shared, and
the best run is the one least disturbed.  Targets: produce >= 2x sqlite3; read >= 1.0x
sqlite3; point reads >= 0.5x sqlite3 in both partitions, and one in the long partition costs
<= 1.5x one in the short partition.

    python benchmarks/bench_store.py [--records N] [--repeat N] [--dir PATH]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import sqlite3
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from storage import Store
from storage.records import encode_batch

FLUSH_EVERY = 1000
VALUE_BYTES = 100
POINT_READS = 10_000
SHORT_PARTITION = 10_000


def make_values(n: int) -> list[bytes]:
    pad = b"x" * (VALUE_BYTES - 10)
    return [b"%010d" % i + pad for i in range(n)]


# -- the store -------------------------------------------------------------------------------


def store_produce(log, values: list[bytes]) -> float:
    start = time.perf_counter()
    for i in range(0, len(values), FLUSH_EVERY):
        log.append_records(values[i : i + FLUSH_EVERY], fsync=True)
    return time.perf_counter() - start


def store_produce_pipelined(log, values: list[bytes]) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(1) as flusher:
        acks = []
        for i in range(0, len(values), FLUSH_EVERY):
            log.append_records(values[i : i + FLUSH_EVERY], fsync=False)
            acks.append(flusher.submit(log.flush))
        for ack in acks:
            ack.result()
    return time.perf_counter() - start


def store_produce_batches(log, batches: list[bytes]) -> float:
    """Already-encoded batches, as ``kcli serve`` appends a Produce request's records: each
    batch is validated record by record before it is written."""
    start = time.perf_counter()
    for batch in batches:
        log.append(batch, fsync=True)
    return time.perf_counter() - start


def store_read(log, expected: int) -> float:
    start = time.perf_counter()
    offset = 0
    count = 0
    total = 0
    while True:
        records = log.read_records(offset, None, max_bytes=1 << 20)
        if not records:
            break
        for r in records:
            total += len(r.value)
        count += len(records)
        offset = records[-1].offset + 1
    elapsed = time.perf_counter() - start
    assert count == expected and total == expected * VALUE_BYTES, (count, total)
    return elapsed


def store_point_reads(log, offsets: list[int]) -> float:
    start = time.perf_counter()
    for o in offsets:
        (record,) = log.read_records(o, 1)
        assert record.offset == o
    return time.perf_counter() - start


# -- sqlite3 ---------------------------------------------------------------------------------


def sqlite_open(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(
        "CREATE TABLE records (offset INTEGER PRIMARY KEY, ts INTEGER, key BLOB, value BLOB)"
    )
    return db


def sqlite_produce(db, values: list[bytes]) -> float:
    start = time.perf_counter()
    for i in range(0, len(values), FLUSH_EVERY):
        ts = time.time_ns() // 1_000_000
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO records VALUES (?, ?, ?, ?)",
            [(i + j, ts, None, v) for j, v in enumerate(values[i : i + FLUSH_EVERY])],
        )
        db.execute("COMMIT")
    return time.perf_counter() - start


def sqlite_read(db, expected: int) -> float:
    start = time.perf_counter()
    count = 0
    total = 0
    for _offset, _ts, _key, value in db.execute(
        "SELECT offset, ts, key, value FROM records ORDER BY offset"
    ):
        total += len(value)
        count += 1
    elapsed = time.perf_counter() - start
    assert count == expected and total == expected * VALUE_BYTES
    return elapsed


def sqlite_point_reads(db, offsets: list[int]) -> float:
    query = "SELECT offset, ts, key, value FROM records WHERE offset = ?"
    start = time.perf_counter()
    for o in offsets:
        row = db.execute(query, (o,)).fetchone()
        assert row[0] == o
    return time.perf_counter() - start


# -- the run ---------------------------------------------------------------------------------


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>12,.0f} records/s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each workload (best wins)")
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: temp)")
    args = parser.parse_args()
    n = args.records
    work = Path(tempfile.mkdtemp(prefix="bench-store-", dir=args.dir))
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, files in {work}")
    print(f"{n:,} records of {VALUE_BYTES} bytes, durable every {FLUSH_EVERY} records")
    print(f"best of {args.repeat} runs per figure\n")
    best: dict[str, float] = {}
    best_cpu: dict[str, float] = {}

    def keep(name: str, workload, *args) -> None:
        """Run ``workload(*args)`` (it returns its wall seconds); keep the best wall time and
        the best CPU time of this process (user + sys, which excludes waiting for the disk
        and for other processes' turns on the CPU)."""
        cpu = time.process_time()
        seconds = workload(*args)
        cpu = time.process_time() - cpu
        best[name] = min(best.get(name, seconds), seconds)
        best_cpu[name] = min(best_cpu.get(name, cpu), cpu)

    try:
        values = make_values(n)
        rng = random.Random(1)
        long_offsets = [rng.randrange(n) for _ in range(POINT_READS)]
        short_offsets = [rng.randrange(SHORT_PARTITION) for _ in range(POINT_READS)]
        store = Store(work / "store")
        now_ms = int(time.time() * 1000)  # a real timestamp: an old one would roll (segment.ms)
        batches = [
            encode_batch(values[i : i + FLUSH_EVERY], timestamp=now_ms)
            for i in range(0, n, FLUSH_EVERY)
        ]
        for r in range(args.repeat):
            for name, produce in (("sync", store_produce), ("pipelined", store_produce_pipelined)):
                topic = f"{name}-{r}"
                store.create_topic(topic, 1)
                keep(f"store produce {name}", produce, store.log(topic, 0), values)
                if r or name != "sync":
                    store.delete_topic(topic)  # keep the disk small: one long partition is read
            store.create_topic(f"batches-{r}", 1)
            keep(
                "store produce batches",
                store_produce_batches,
                store.log(f"batches-{r}", 0),
                batches,
            )
            store.delete_topic(f"batches-{r}")
            db_path = work / f"produce-{r}.db"
            db = sqlite_open(db_path)
            keep("sqlite produce", sqlite_produce, db, values)
            db.close()
            if r:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{db_path}{suffix}").unlink(missing_ok=True)
        store.create_topic("short", 1)
        store_produce(store.log("short", 0), values[:SHORT_PARTITION])
        long_log = store.log("sync-0", 0)
        short_log = store.log("short", 0)
        db_long = sqlite3.connect(work / "produce-0.db")
        db_short = sqlite_open(work / "short.db")
        sqlite_produce(db_short, values[:SHORT_PARTITION])
        for _ in range(max(args.repeat, 3)):
            keep("store read", store_read, long_log, n)
            keep("sqlite read", sqlite_read, db_long, n)
            keep("store point long", store_point_reads, long_log, long_offsets)
            keep("sqlite point long", sqlite_point_reads, db_long, long_offsets)
            keep("store point short", store_point_reads, short_log, short_offsets)
            keep("sqlite point short", sqlite_point_reads, db_short, short_offsets)
        db_long.close()
        db_short.close()
        store.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"{'':36}{'store':>24}{'sqlite3':>24}{'store/sqlite3':>16}{'cpu':>7}")
    rows = [
        ("produce, fsync each 1000", n, "store produce sync", "sqlite produce", ">= 2.0x"),
        ("produce, pipelined flushes", n, "store produce pipelined", "sqlite produce", ">= 2.0x"),
        ("produce batches, fsync each", n, "store produce batches", "sqlite produce", ""),
        ("read everything", n, "store read", "sqlite read", ">= 1.0x"),
        (
            f"point reads, {n:,} records",
            POINT_READS,
            "store point long",
            "sqlite point long",
            ">= 0.5x",
        ),
        (
            f"point reads, {SHORT_PARTITION:,} records",
            POINT_READS,
            "store point short",
            "sqlite point short",
            ">= 0.5x",
        ),
    ]
    for label, count, ours, theirs, target in rows:
        print(
            f"{label:36}{rate(count, best[ours]):>24}{rate(count, best[theirs]):>24}"
            f"{best[theirs] / best[ours]:>15.2f}x{best_cpu[theirs] / best_cpu[ours]:>6.2f}x"
            f"  {'target ' + target if target else ''}"
        )
    print(
        "(store/sqlite3: wall time, which the targets are for; cpu: the same from this "
        "process's CPU time,\n steadier on a busy machine; for produce it leaves out waiting "
        "for fsync, which only the store does)"
    )
    print()
    long_short = best["store point long"] / best["store point short"]
    sqlite_long_short = best["sqlite point long"] / best["sqlite point short"]
    print(
        f"point read cost, {n:,} / {SHORT_PARTITION:,} records: store {long_short:.2f}x "
        f"(target <= 1.5x), sqlite3 {sqlite_long_short:.2f}x"
    )


if __name__ == "__main__":
    main()
