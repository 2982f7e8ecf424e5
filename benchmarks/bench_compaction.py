"""The log cleaner against stdlib sqlite3 keeping the same table, on the same machine, in one run.

Workload: 1,000,000 updates of 10,000 keys (``user-00042`` -> a 100-byte profile), in order.

  cleaner   the updates appended to a partition (written before the topic is compacted, so
            nothing cleans early), every one of them in a closed segment; then one
            ``LogCleaner.clean`` round: map every key's latest offset, rewrite every segment
            keeping the latest record per key, swap the segments in, fsync.  Records cleaned
            per second = records in the cleaned segments / the round's wall time.
  sqlite3   the same updates as ``INSERT OR REPLACE INTO profiles(key, value)`` into a table
            keyed by ``key`` (what a compacted topic is: a table), 1000 rows per transaction,
            WAL mode, synchronous=NORMAL.  Rows per second.

Target: cleaner >= 1x sqlite3.  Each figure is the best of ``--repeat`` runs, the two sides
interleaved (the machine is shared: the best run is the least disturbed).

Memory: the peak of the cleaner's Python allocations during a round (tracemalloc, in a run of
its own since tracing slows it down), at several key counts, to show how it grows: the offset
map holds one entry per distinct key, and only one batch is held in memory at a time.
Target: < 100 MB at 10,000 keys.

    python benchmarks/bench_compaction.py [--records N] [--keys N] [--repeat N] [--dir PATH]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sqlite3
import tempfile
import time
import tracemalloc
from pathlib import Path

from storage import ProducerRecord, Store
from storage.cleaner import LogCleaner

VALUE_BYTES = 100
CHUNK = 1000
SEGMENT_BYTES = 16 * 1024 * 1024


def updates(n: int, keys: int) -> list[tuple[bytes, bytes]]:
    pad = b"p" * (VALUE_BYTES - 10)
    return [(b"user-%05d" % (i % keys), b"%010d" % i + pad) for i in range(n)]


def prepare(data_dir: Path, pairs) -> int:
    """A partition holding ``pairs`` in closed segments; returns the records to clean."""
    store = Store(data_dir)
    store.create_topic("profiles", 1, {"segment.bytes": str(SEGMENT_BYTES), "retention.ms": "-1"})
    log = store.log("profiles", 0)
    for i in range(0, len(pairs), CHUNK):
        log.append_records([ProducerRecord(v, key=k) for k, v in pairs[i : i + CHUNK]], fsync=False)
    # Close the last segment (one record of its own key rolls it), so every update is in a
    # closed segment: the active one is never cleaned.
    store.alter_topic("profiles", config={"segment.bytes": "14"})
    log = store.log("profiles", 0)  # with the altered config
    log.append_records([ProducerRecord(b"f", key=b"roll")], fsync=False)
    log.flush()
    store.alter_topic(
        "profiles", config={"cleanup.policy": "compact", "segment.bytes": str(SEGMENT_BYTES)}
    )
    closed = log.segments()[:-1]
    store.close()
    return closed[-1].next_offset - closed[0].base_offset


def clean(data_dir: Path, *, trace: bool = False) -> tuple[float, int, object]:
    store = Store(data_dir)
    log = store.log("profiles", 0)
    cleaner = LogCleaner(data_dir)
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    result = cleaner.clean(log)
    elapsed = time.perf_counter() - started
    peak = 0
    if trace:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    store.close()
    return elapsed, peak, result


def sqlite_table(path: Path, pairs) -> float:
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE profiles (key BLOB PRIMARY KEY, value BLOB)")
    started = time.perf_counter()
    for i in range(0, len(pairs), CHUNK):
        with db:
            db.executemany(
                "INSERT OR REPLACE INTO profiles (key, value) VALUES (?, ?)", pairs[i : i + CHUNK]
            )
    elapsed = time.perf_counter() - started
    rows = db.execute("SELECT count(*) FROM profiles").fetchone()[0]
    db.close()
    assert rows == len({k for k, _v in pairs})
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-compaction-", dir=args.dir))
    try:
        pairs = updates(args.records, args.keys)
        prepared = work / "prepared"
        to_clean = prepare(prepared, pairs)
        best_clean = best_sqlite = float("inf")
        result = None
        for run in range(args.repeat):
            data_dir = work / f"run-{run}"
            shutil.copytree(prepared, data_dir)
            elapsed, _peak, result = clean(data_dir)
            best_clean = min(best_clean, elapsed)
            shutil.rmtree(data_dir)
            db = work / f"run-{run}.sqlite"
            best_sqlite = min(best_sqlite, sqlite_table(db, pairs))
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
        print(
            f"# {platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs"
        )
        print(f"{args.records:,} updates of {args.keys:,} keys, {VALUE_BYTES}-byte values")
        print(
            f"cleaner : {to_clean:,} records cleaned in {best_clean:.2f} s = "
            f"{to_clean / best_clean:,.0f} records/s "
            f"({result.records_removed:,} removed, {len(result.segments)} segments rewritten)"
        )
        print(
            f"sqlite3 : {len(pairs):,} INSERT OR REPLACE in {best_sqlite:.2f} s = "
            f"{len(pairs) / best_sqlite:,.0f} rows/s"
        )
        ratio = (to_clean / best_clean) / (len(pairs) / best_sqlite)
        print(f"ratio   : cleaner / sqlite3 = {ratio:.2f}x (target >= 1x)")
        # Memory: the same round traced, at this key count and around it.
        n = min(args.records, 200_000)
        for keys in sorted({args.keys // 10, args.keys, args.keys * 10}):
            if keys < 1 or keys > n:
                continue
            d = work / f"mem-{keys}"
            prepare(d, updates(n, keys))
            _elapsed, peak, _r = clean(d, trace=True)
            shutil.rmtree(d)
            print(
                f"memory  : {keys:>7,} keys ({n:,} records): cleaner peak {peak / 2**20:6.1f} MB "
                f"= {peak / keys:,.0f} B per key"
            )
        print("target  : < 100 MB at 10,000 keys; the offset map grows linearly with the keys")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
