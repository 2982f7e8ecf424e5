"""How fast the command line is, measured against baselines in the same run.

    python benchmarks/bench_cli.py [--lines 200000] [--consume-records 1000000] [--repeat 7]

Prints, for each measurement, the median and best wall time of real processes (start-up
included) and the ratio to its baseline:

* ``kcli --help`` and a one-record ``kcli produce`` against ``python -c "import typer,
  rich.console, pydantic"``, the floor the required packages impose (targets: 1.5x, 1.6x);
* ``kcli produce`` of N stdin lines against stdlib sqlite3 inserting the same lines (WAL,
  synchronous=NORMAL, 1000-row transactions) and against the store API called directly
  (target: faster than sqlite3);
* ``kcli consume -o json`` of those N records, and of a million (target: >= 250k records/s).

Nothing here is asserted: on a shared machine timings vary, so the figures are for people.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PYTHON = sys.executable
KCLI = [PYTHON, "-m", "kcli"]
_KCLI_SCRIPT = Path(sys.executable).with_name("kcli")
if _KCLI_SCRIPT.exists():
    KCLI = [str(_KCLI_SCRIPT)]

SQLITE_SCRIPT = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("pragma journal_mode=WAL")
db.execute("pragma synchronous=NORMAL")
db.execute("create table t (id integer primary key, line blob)")
rows = []
for line in sys.stdin.buffer:
    rows.append((line.rstrip(b"\\n"),))
    if len(rows) == 1000:
        with db:
            db.executemany("insert into t (line) values (?)", rows)
        rows = []
if rows:
    with db:
        db.executemany("insert into t (line) values (?)", rows)
"""

STORE_SCRIPT = """
import sys
from storage import ProducerRecord, Store
log = Store(sys.argv[1]).log(sys.argv[2], 0)
batch = []
for line in sys.stdin.buffer:
    batch.append(ProducerRecord(line.rstrip(b"\\n")))
    if len(batch) == 10000:
        log.append_records(batch)
        batch = []
if batch:
    log.append_records(batch)
"""


def timed(cmd, *, stdin=None, env=None, repeat=1, setup=None) -> list[float]:
    """Wall times of ``repeat`` runs of ``cmd`` (stdout discarded); raises if one fails."""
    times = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        src = open(stdin, "rb") if stdin else subprocess.DEVNULL
        try:
            start = time.perf_counter()
            proc = subprocess.run(
                cmd, stdin=src, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
            )
            times.append(time.perf_counter() - start)
        finally:
            if stdin:
                src.close()
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(map(str, cmd))} failed: {proc.stderr.decode()}")
    return times


def show(name: str, times: list[float], base: float | None = None, target: str = "") -> float:
    med = statistics.median(times)
    ratio = f"  {med / base:5.2f}x" if base else ""
    print(
        f"  {name:<46} median {med * 1000:8.0f} ms  best {min(times) * 1000:8.0f} ms{ratio}  {target}"
    )
    return med


def kcli_env(data_dir: Path) -> dict:
    env = dict(os.environ)
    env["KCLI_DATA_DIR"] = str(data_dir)
    return env


def write_lines(path: Path, n: int) -> None:
    with open(path, "wb") as f:
        for i in range(0, n, 10000):
            f.write(
                b"".join(
                    b"sensor-%d reading %d temperature=21.%d humidity=0.4%d\n"
                    % (j % 97, j, j % 10, j % 7)
                    for j in range(i, min(n, i + 10000))
                )
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--consume-records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kcli-bench-"))
    try:
        run(work, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, args) -> None:
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    data = work / "data"
    env = kcli_env(data)
    subprocess.run([*KCLI, "topic", "create", "one"], env=env, check=True, capture_output=True)

    print("\nStart-up (floor: python -c 'import typer, rich.console, pydantic')")
    r = args.repeat
    floor = show(
        "import floor", timed([PYTHON, "-c", "import typer, rich.console, pydantic"], repeat=r)
    )
    show("python -c pass", timed([PYTHON, "-c", "pass"], repeat=r), floor)
    show("kcli --help", timed([*KCLI, "--help"], env=env, repeat=r), floor, "(target <= 1.5x)")
    show(
        "kcli produce one 'hello'",
        timed([*KCLI, "produce", "one", "hello"], env=env, repeat=r),
        floor,
        "(target <= 1.6x)",
    )

    n = args.lines
    lines = work / "lines.txt"
    write_lines(lines, n)
    print(f"\nProduce {n:,} stdin lines ({lines.stat().st_size / 1e6:.1f} MB), start-up included")
    db = work / "bench.db"

    def fresh_db():
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)

    counter = iter(range(10**6))

    def fresh_topic():
        name = f"p{next(counter)}"
        subprocess.run([*KCLI, "topic", "create", name], env=env, check=True, capture_output=True)
        fresh_topic.name = name

    rp = max(3, r // 2)
    sqlite = show(
        "sqlite3 (WAL, NORMAL, 1000-row tx)",
        timed([PYTHON, "-c", SQLITE_SCRIPT, str(db)], stdin=lines, repeat=rp, setup=fresh_db),
    )
    store_times = []
    kcli_times = []
    for _ in range(rp):
        fresh_topic()
        store_times += timed(
            [PYTHON, "-c", STORE_SCRIPT, str(data), fresh_topic.name], stdin=lines, env=env
        )
        fresh_topic()
        kcli_times += timed([*KCLI, "produce", fresh_topic.name], stdin=lines, env=env)
    show("store API (Log.append_records, 10k per call)", store_times, sqlite)
    med = show("kcli produce TOPIC < lines", kcli_times, sqlite, "(target < 1.0x sqlite3)")
    print(f"  {'':<46} = {n / med:,.0f} records/s")

    print("\nConsume -o json, start-up included")
    t = timed([*KCLI, "consume", fresh_topic.name, "-o", "json"], env=env, repeat=rp)
    med = show(f"kcli consume -o json ({n:,} records)", t)
    print(f"  {'':<46} = {n / med:,.0f} records/s")
    m = args.consume_records
    if m:
        big = work / "big.txt"
        write_lines(big, m)
        subprocess.run([*KCLI, "topic", "create", "big"], env=env, check=True, capture_output=True)
        timed([*KCLI, "produce", "big"], stdin=big, env=env)
        t = timed([*KCLI, "consume", "big", "-o", "json"], env=env, repeat=3)
        med = show(f"kcli consume -o json ({m:,} records)", t)
        print(f"  {'':<46} = {m / med:,.0f} records/s  (target >= 250,000)")


if __name__ == "__main__":
    main()
