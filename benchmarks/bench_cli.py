"""How fast the command line is, measured against baselines in the same run.

    python benchmarks/bench_cli.py [--lines 200000] [--consume-records 1000000] [--repeat 7]

Prints, for each measurement, the median and best wall time of real processes (start-up
included) and the ratio to its baseline:

* ``kcli --help`` and a one-record ``kcli produce`` against ``python -c "import typer,
  rich.console, pydantic"``, the floor the required packages impose (targets: 1.2x, 1.3x);
* ``kcli produce`` of N stdin lines against stdlib sqlite3 inserting the same lines (WAL,
  synchronous=NORMAL, 1000-row transactions) and against the store API called directly
  (target: faster than sqlite3);
* ``kcli consume -o json`` of those N records, and of a million (target: >= 250k records/s).

Every process runs with a warm bytecode cache, as after ``pip install``.  Nothing here is
asserted: on a shared machine timings vary, so the figures are for people.
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


class Runs:
    """Wall and CPU (user + sys) seconds of repeated runs of one command."""

    def __init__(self, name: str):
        self.name = name
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.peak_rss_mb: list[float] = []

    def run(self, cmd, *, stdin=None, env=None) -> None:
        src = open(stdin, "rb") if stdin else subprocess.DEVNULL
        try:
            start = time.perf_counter()
            proc = subprocess.Popen(
                cmd, stdin=src, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
            )
            err = proc.stderr.read()
            _, status, usage = os.wait4(proc.pid, 0)
            self.wall.append(time.perf_counter() - start)
        finally:
            if stdin:
                src.close()
        self.cpu.append(usage.ru_utime + usage.ru_stime)
        self.peak_rss_mb.append(usage.ru_maxrss / 1024)  # Linux reports KB
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(map(str, cmd))} failed: {err.decode()}")

    @property
    def median(self) -> float:
        return statistics.median(self.wall)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)


def show(r: Runs, base: Runs | None = None, target: str = "") -> None:
    ratio = ""
    if base is not None:
        ratio = f"  {r.median / base.median:5.2f}x wall {r.cpu_median / base.cpu_median:5.2f}x cpu"
    print(
        f"  {r.name:<40} wall {r.median * 1000:7.0f} ms (best {min(r.wall) * 1000:6.0f})"
        f"  cpu {r.cpu_median * 1000:7.0f} ms{ratio}  {target}"
    )


def bench_env(work: Path) -> dict:
    """Bytecode cached, as after ``pip install`` (which compiles every module): without a
    cache each run would first compile kcli's and the engine's sources.  The cache goes to a
    temporary directory so the source tree stays clean."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    env["KCLI_DATA_DIR"] = str(work / "data")
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
    print("Runs of the commands compared are interleaved, so load from elsewhere hits all alike;")
    print("CPU time (user + sys of the process) is the steadier figure on a busy machine.")
    data = work / "data"
    env = bench_env(work)
    subprocess.run([*KCLI, "topic", "create", "one"], env=env, check=True, capture_output=True)
    # Fill the bytecode cache for everything measured below.
    for warm in (["--help"], ["produce", "one", "warm-up"], ["consume", "one", "-o", "json"]):
        subprocess.run([*KCLI, *warm], env=env, check=True, capture_output=True)
    for script in ("import typer, rich.console, pydantic", "import sqlite3", "import storage"):
        subprocess.run([PYTHON, "-c", script], env=env, check=True, capture_output=True)

    print("\nStart-up, against the import floor: python -c 'import typer, rich.console, pydantic'")
    floor, empty = Runs("import floor"), Runs("python -c pass")
    help_, one = Runs("kcli --help"), Runs("kcli produce one 'hello'")
    for _ in range(args.repeat):
        floor.run([PYTHON, "-c", "import typer, rich.console, pydantic"], env=env)
        empty.run([PYTHON, "-c", "pass"], env=env)
        help_.run([*KCLI, "--help"], env=env)
        one.run([*KCLI, "produce", "one", "hello"], env=env)
    show(floor)
    show(empty, floor)
    show(help_, floor, "(target <= 1.2x)")
    show(one, floor, "(target <= 1.3x)")

    n = args.lines
    lines = work / "lines.txt"
    write_lines(lines, n)
    print(f"\nProduce {n:,} stdin lines ({lines.stat().st_size / 1e6:.1f} MB), start-up included")
    db = work / "bench.db"
    sqlite = Runs("sqlite3 (WAL, NORMAL, 1000-row tx)")
    store = Runs("store API (Log.append_records, 10k/call)")
    kcli = Runs("kcli produce TOPIC < lines")
    topics = []
    for _ in range(max(3, args.repeat // 2)):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        sqlite.run([PYTHON, "-c", SQLITE_SCRIPT, str(db)], stdin=lines, env=env)
        for runs, cmd in (
            (store, [PYTHON, "-c", STORE_SCRIPT, str(data)]),
            (kcli, [*KCLI, "produce"]),
        ):
            name = f"p{len(topics)}"
            topics.append(name)
            subprocess.run(
                [*KCLI, "topic", "create", name], env=env, check=True, capture_output=True
            )
            runs.run([*cmd, name], stdin=lines, env=env)
    show(sqlite)
    show(store, sqlite)
    show(kcli, sqlite, "(target < 1.0x sqlite3)")
    print(
        f"  {'':<40} = {n / kcli.median:,.0f} records/s wall, {n / kcli.cpu_median:,.0f} per CPU-second"
    )

    print("\nConsume -o json, start-up included")
    small = Runs(f"kcli consume -o json ({n:,} records)")
    for _ in range(3):
        small.run([*KCLI, "consume", topics[-1], "-o", "json"], env=env)
    show(small)
    print(
        f"  {'':<40} = {n / small.median:,.0f} records/s wall, {n / small.cpu_median:,.0f} per CPU-second"
    )
    m = args.consume_records
    if m:
        big = work / "big.txt"
        write_lines(big, m)
        subprocess.run([*KCLI, "topic", "create", "big"], env=env, check=True, capture_output=True)
        Runs("load").run([*KCLI, "produce", "big"], stdin=big, env=env)
        large = Runs(f"kcli consume -o json ({m:,} records)")
        for _ in range(3):
            large.run([*KCLI, "consume", "big", "-o", "json"], env=env)
        show(large)
        print(
            f"  {'':<40} = {m / large.median:,.0f} records/s wall, "
            f"{m / large.cpu_median:,.0f} per CPU-second  (target >= 250,000)"
        )
        print(f"  {'':<40} peak RSS {max(large.peak_rss_mb):.0f} MB  (target < 100 MB)")


if __name__ == "__main__":
    main()
