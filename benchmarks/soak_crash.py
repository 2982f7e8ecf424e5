"""Kill producers with SIGKILL, many times over, and check what survives.

The crash test in the test suite runs 50 trials; this runs as many as asked.  Each trial
starts producers (two modes among: records, several batches per append, idempotent) on a
fresh topic, kills each at a random moment with SIGKILL, optionally tears the tail and
damages indexes as a kill mid-write would, then checks the partition: every acknowledged
record there exactly once, offsets contiguous, whole batches only, recover() and check()
clean, an idempotent producer's resend deduplicated.

    python benchmarks/soak_crash.py [--trials 200] [--parallel 4] [--seed 1] [--dir PATH]
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "crash"))

import crash_workers  # noqa: E402

from storage import Store  # noqa: E402


def run_trial_group(data_dir: Path, work: Path, rng: random.Random, seeds: list[int]) -> list:
    ctx = multiprocessing.get_context("fork")
    store = Store(data_dir)
    trials = []
    for seed in seeds:
        topic = f"soak-{seed}"
        children = crash_workers.start_trial(ctx, store, work, topic, seed, rng)
        trials.append((topic, seed, children))
    for _topic, _seed, children in trials:
        for _mode, proc, ack in children.values():
            if rng.random() < 0.1:
                time.sleep(rng.uniform(0, 0.05))
            else:
                deadline = time.monotonic() + 120
                while not crash_workers.read_acks(ack) and proc.is_alive():
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.005)
                time.sleep(rng.uniform(0, 0.3))
            crash_workers.kill(proc.pid)
    results = []
    for topic, seed, children in trials:
        for _mode, proc, _ack in children.values():
            proc.join(60)
        exits = [proc.exitcode for _m, proc, _a in children.values()]
        acks = {c: crash_workers.read_acks(ack) for c, (_m, _p, ack) in children.items()}
        modes = {c: mode for c, (mode, _p, _a) in children.items()}
        try:
            if any(code != -9 for code in exits):
                raise AssertionError(f"a producer exited with {exits} instead of being killed")
            torn = crash_workers.tear_tail(data_dir, topic, rng) if rng.random() < 0.5 else 0
            result = crash_workers.verify(data_dir, topic, seed, modes, acks, torn)
            result["failed"] = 0
        except Exception:
            print(f"trial {seed} ({topic}, modes {modes}) FAILED:", file=sys.stderr)
            traceback.print_exc()
            result = {"failed": 1}
        results.append(result)
        store.delete_topic(topic)  # keep the disk small
    store.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--parallel", type=int, default=4, help="trials at a time")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: temp)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="soak-crash-", dir=args.dir))
    rng = random.Random(args.seed)
    totals: dict[str, int] = {}
    start = time.monotonic()
    try:
        for first in range(0, args.trials, args.parallel):
            seeds = list(range(first, min(first + args.parallel, args.trials)))
            for result in run_trial_group(work / "data", work, rng, seeds):
                for key, value in result.items():
                    totals[key] = totals.get(key, 0) + value
            done = seeds[-1] + 1
            if done // 50 != (done - len(seeds)) // 50 or done == args.trials:
                print(f"{done} trials, {totals.get('failed', 0)} failed", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    elapsed = time.monotonic() - start
    print()
    print(f"trials                              {args.trials:>10}")
    print(f"failed                              {totals.get('failed', 0):>10}")
    print(f"records checked                     {totals.get('records', 0):>10,}")
    print(f"acknowledged batches, all found     {totals.get('acknowledged_batches', 0):>10,}")
    print(
        f"unacknowledged batches present     {totals.get('unacknowledged_batches_present', 0):>10,}"
        "  (written, killed before the acknowledgement)"
    )
    print(f"torn-tail bytes truncated           {totals.get('truncated_bytes', 0):>10,}")
    print(
        f"idempotent resends deduplicated     {totals.get('idempotent_retries_deduplicated', 0):>10}"
    )
    print(f"time                                {elapsed:>9.0f}s")
    sys.exit(1 if totals.get("failed") else 0)


if __name__ == "__main__":
    main()
