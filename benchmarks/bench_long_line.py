"""One long stdin line: how long `kcli produce` takes to refuse (or store) it.

A line without a newline of 20, 40 and 60 MB is piped into ``kcli produce``:

* refused: the topic has the default max.message.bytes (1048588), so every line is too
  large; kcli should say so as soon as the line passes the limit, whatever its length.
* stored: the topic's max.message.bytes is raised above the line's length, so the line is
  one record; the time should grow linearly with the length.

Each row prints the seconds and the ratio against the 20 MB run of the same scenario
(linear: 1, 2, 3; quadratic: 1, 4, 9).  ``--source DIR`` runs kcli from another checkout
(its package directory on PYTHONPATH), to measure a before/after pair in one session::

    python benchmarks/bench_long_line.py
    python benchmarks/bench_long_line.py --source /path/to/older/checkout --only refused
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SIZES_MB = (20, 40, 60)
_MB = 1_000_000


def kcli_command(data_dir: Path, source: str | None, *args: str) -> tuple[list[str], dict]:
    env = {k: v for k, v in os.environ.items() if k != "KCLI_DATA_DIR"}
    if source:
        env["PYTHONPATH"] = source
    return [sys.executable, "-m", "kcli", "--data-dir", str(data_dir), *args], env


def run_kcli(data_dir: Path, source: str | None, *args: str):
    command, env = kcli_command(data_dir, source, *args)
    return subprocess.run(command, capture_output=True, env=env, timeout=600)


def measure(data_dir: Path, source: str | None, topic: str, size_mb: int) -> float:
    """Seconds from start to exit of ``kcli produce`` fed one line of ``size_mb`` MB through
    a pipe, 64 KiB per write (what a shell pipe delivers per read)."""
    command, env = kcli_command(data_dir, source, "produce", topic)
    piece = b"x" * 65536
    started = time.perf_counter()
    proc = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
    )

    def feed() -> None:
        try:
            for _ in range(size_mb * _MB // len(piece)):
                proc.stdin.write(piece)
            proc.stdin.close()
        except (BrokenPipeError, ValueError):  # kcli refused the line and exited
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    stderr = proc.stderr.read()
    proc.wait(timeout=600)
    took = time.perf_counter() - started
    writer.join(timeout=10)
    outcome = "refused" if proc.returncode else "stored"
    print(f"  {size_mb:>3} MB: {outcome}: {stderr.decode(errors='replace').strip()[:90]}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", help="run kcli from this checkout (default: this one)")
    parser.add_argument("--only", choices=("refused", "stored"), help="run one scenario")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kcli-bench-long-line-") as tmp_name:
        tmp = Path(tmp_name)
        data = tmp / "data"
        setup = [
            ("topic", "create", "refused"),
            ("topic", "create", "stored", "--config", f"max.message.bytes={70 * _MB}"),
        ]
        for step in setup:
            result = run_kcli(data, args.source, *step)
            assert result.returncode == 0, result.stderr
        for scenario in ("refused", "stored"):
            if args.only and scenario != args.only:
                continue
            print(f"{scenario}:")
            times = [measure(data, args.source, scenario, mb) for mb in SIZES_MB]
            for mb, took in zip(SIZES_MB, times, strict=True):
                print(f"  {mb} MB  {took:6.2f} s  ratio {took / times[0]:5.2f}")


if __name__ == "__main__":
    main()
