"""The store against stdlib sqlite3, on the same machine, in one run.

Workloads (both sides):
  produce   1,000,000 records with 100-byte values; durable every 1000 records (the store:
            ``append_records(..., fsync=True)``; sqlite3: a 1000-row transaction in WAL mode
            with synchronous=NORMAL, which does not fsync at commit)
  read      all of them back in offset order, touching every value
  point     10,000 reads of one record at a random offset, in a 1,000,000-record partition
            and in a 10,000-record one

Targets: produce >= 2x sqlite3; read >= 0.7x sqlite3; a point read in the long partition
costs <= 1.5x one in the short partition.

    python benchmarks/bench_store.py [--records N] [--dir PATH]
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
from pathlib import Path

from storage import ProducerRecord, Store

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
        log.append_records([ProducerRecord(v) for v in values[i : i + FLUSH_EVERY]], fsync=True)
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


def store_point_reads(log, n: int, offsets: list[int]) -> float:
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
    parser.add_argument(
        "--dir", type=Path, default=None, help="where to write (default: a temp dir)"
    )
    args = parser.parse_args()
    n = args.records
    work = Path(tempfile.mkdtemp(prefix="bench-store-", dir=args.dir))
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, files in {work}")
    print(f"{n:,} records of {VALUE_BYTES} bytes, durable every {FLUSH_EVERY} records\n")
    try:
        values = make_values(n)
        rng = random.Random(1)
        long_offsets = [rng.randrange(n) for _ in range(POINT_READS)]
        short_offsets = [rng.randrange(SHORT_PARTITION) for _ in range(POINT_READS)]

        store = Store(work / "store")
        store.create_topic("long", 1)
        store.create_topic("short", 1)
        long_log = store.log("long", 0)
        short_log = store.log("short", 0)
        produce_s = store_produce(long_log, values)
        store_produce(short_log, values[:SHORT_PARTITION])
        read_s = store_read(store.log("long", 0), n)
        point_long_s = store_point_reads(long_log, n, long_offsets)
        point_short_s = store_point_reads(short_log, SHORT_PARTITION, short_offsets)
        store.close()

        db_long = sqlite_open(work / "long.db")
        db_short = sqlite_open(work / "short.db")
        sq_produce_s = sqlite_produce(db_long, values)
        sqlite_produce(db_short, values[:SHORT_PARTITION])
        sq_read_s = sqlite_read(db_long, n)
        sq_point_long_s = sqlite_point_reads(db_long, long_offsets)
        sq_point_short_s = sqlite_point_reads(db_short, short_offsets)
        db_long.close()
        db_short.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"{'':34}{'store':>24}{'sqlite3':>24}{'store/sqlite3':>16}")
    rows = [
        ("produce (fsync every 1000)", n, produce_s, sq_produce_s, "target >= 2.0x"),
        ("read everything", n, read_s, sq_read_s, "target >= 0.7x"),
        (f"point reads, {n:,} records", POINT_READS, point_long_s, sq_point_long_s, ""),
        (
            f"point reads, {SHORT_PARTITION:,} records",
            POINT_READS,
            point_short_s,
            sq_point_short_s,
            "",
        ),
    ]
    for name, count, ours, theirs, target in rows:
        print(
            f"{name:34}{rate(count, ours):>24}{rate(count, theirs):>24}"
            f"{theirs / ours:>15.2f}x  {target}"
        )
    print()
    print(
        f"point read cost, long / short partition: store {point_long_s / point_short_s:.2f}x "
        f"(target <= 1.5x), sqlite3 {sq_point_long_s / sq_point_short_s:.2f}x"
    )


if __name__ == "__main__":
    main()
