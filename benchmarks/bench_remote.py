"""The same commands on the local store and on a cluster, timed in one run.

    python benchmarks/bench_remote.py [--lines 200000] [--repeat 3]

Starts `kcli serve` on a free port (the cluster), then times real `kcli` processes, start-up
included, on the local store and through `--bootstrap-server`:

* `kcli topic list` (start-up plus one metadata request),
* `kcli produce` of N stdin lines,
* `kcli consume -o json` of those N records.

Prints the median wall time of each and the cluster/local ratio.  Through `kcli serve` every
record crosses a socket twice and the server's Python, so the ratio is an upper bound on the
client's own cost; a real broker serves faster.  Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KCLI = [sys.executable, "-m", "kcli"]
_BOOTSTRAP = re.compile(r"bootstrap\.servers=(\S+)")


def timed(cmd: list[str], *, stdin: Path | None = None) -> float:
    src = open(stdin, "rb") if stdin else subprocess.DEVNULL
    try:
        started = time.perf_counter()
        done = subprocess.run(cmd, stdin=src, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        elapsed = time.perf_counter() - started
    finally:
        if stdin:
            src.close()
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {done.stderr.decode()}")
    return elapsed


def start_serve(data_dir: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [*KCLI, "--data-dir", str(data_dir), "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    for line in proc.stdout:
        match = _BOOTSTRAP.search(line)
        if match:
            return proc, match.group(1)
    raise SystemExit("kcli serve did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    env_note = f"{os.cpu_count()} CPUs, python {sys.version.split()[0]}"
    print(f"kcli on the local store vs through kcli serve: {args.lines:,} lines ({env_note})")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        lines = root / "lines.txt"
        lines.write_bytes(b"".join(b"record %08d payload\n" % i for i in range(args.lines)))
        serve, bootstrap = start_serve(root / "served")
        try:
            targets = {
                "local": [*KCLI, "--data-dir", str(root / "local")],
                "cluster": [*KCLI, "--bootstrap-server", bootstrap],
            }
            results: dict[str, dict[str, list[float]]] = {}
            for name, base in targets.items():
                subprocess.run(
                    [*base, "topic", "create", "warmup"], check=True, capture_output=True
                )
                r = results[name] = {"topic list": [], "produce": [], "consume -o json": []}
                for i in range(args.repeat):
                    topic = f"bench-{i}"
                    subprocess.run(
                        [*base, "topic", "create", topic], check=True, capture_output=True
                    )
                    r["topic list"].append(timed([*base, "topic", "list"]))
                    r["produce"].append(timed([*base, "produce", topic], stdin=lines))
                    r["consume -o json"].append(timed([*base, "consume", topic, "-o", "json"]))
        finally:
            serve.terminate()
            serve.wait(60)
    print(f"{'':18}{'local s':>10}{'cluster s':>11}{'ratio':>8}{'cluster rec/s':>15}")
    for what in results["local"]:
        local = statistics.median(results["local"][what])
        remote = statistics.median(results["cluster"][what])
        rate = "" if what == "topic list" else f"{args.lines / remote:,.0f}"
        print(f"{what:18}{local:10.2f}{remote:11.2f}{remote / local:7.1f}x{rate:>15}")


if __name__ == "__main__":
    main()
