"""The Jepsen-style cluster trial, long: 200 rounds of kill -9 and restart of a random broker
under an idempotent acks=all producer (tests/cluster/jepsen.py; the test suite runs 20).

    python benchmarks/soak_cluster.py [--rounds 200] [--seed 0]

Prints one line per round, then what was sent, acknowledged and read back, and every problem
found (a lost or duplicated acknowledged record, records out of order, replicas that differ);
exits 1 if there was any.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.cluster.harness import FAST, LocalCluster  # noqa: E402
from tests.cluster.jepsen import CONFIG, run_trial  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["KCLI_CONFIG"] = str(Path(tmp) / "config.toml")
        c = LocalCluster(Path(tmp), 3, config=FAST)
        c.start(*CONFIG)
        try:
            result = run_trial(c, args.rounds, args.seed, say=print)
        finally:
            c.delete()
    print(
        f"{result.rounds} rounds in {result.seconds:.0f} s: {result.sent} sent, {result.acked} "
        f"acknowledged, {result.failed} failed, {result.read} read back"
    )
    for problem in result.problems:
        print(f"PROBLEM: {problem}")
    sys.exit(1 if result.problems or result.acked != result.read else 0)


if __name__ == "__main__":
    main()
