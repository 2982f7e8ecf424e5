"""Producers killed with SIGKILL at random moments lose nothing they acknowledged.

Real processes (forked, so that each trial costs milliseconds rather than an interpreter
start), real SIGKILL, real files; ``crash_workers.verify`` says what must hold afterwards.
"""

from __future__ import annotations

import multiprocessing
import random
import time

import crash_workers

from storage import Store

TRIALS = 50
PARALLEL = 5  # trials at a time, each with its own topic and two producers
START_TIMEOUT_S = 120


def run_round(data_dir, tmp_path, rng, first_trial):
    ctx = multiprocessing.get_context("fork")
    store = Store(data_dir)
    trials = []
    for t in range(first_trial, first_trial + PARALLEL):
        topic = f"crash-{t}"
        children = crash_workers.start_trial(ctx, store, tmp_path, topic, t, rng)
        trials.append((topic, t, children))
    for topic, _seed, children in trials:
        for _mode, proc, ack in children.values():
            if rng.random() < 0.1:
                time.sleep(rng.uniform(0, 0.05))  # sometimes while it is still starting
            else:
                deadline = time.monotonic() + START_TIMEOUT_S
                while not crash_workers.read_acks(ack):
                    assert proc.is_alive(), f"producer for {topic} died on its own"
                    assert time.monotonic() < deadline, f"producer for {topic} never appended"
                    time.sleep(0.005)
                time.sleep(rng.uniform(0, 0.2))
            crash_workers.kill(proc.pid)
    results = []
    for topic, seed, children in trials:
        for _mode, proc, _ack in children.values():
            proc.join(60)
            assert proc.exitcode == -9, f"producer for {topic} exited with {proc.exitcode}"
        acks = {c: crash_workers.read_acks(ack) for c, (_m, _p, ack) in children.items()}
        modes = {c: mode for c, (mode, _p, _a) in children.items()}
        # A kill rarely lands inside a write: every other trial also gets a torn tail and
        # damaged indexes, as a kill in the middle of a write and of an index update leaves.
        torn = crash_workers.tear_tail(data_dir, topic, rng) if seed % 2 else 0
        results.append(crash_workers.verify(data_dir, topic, seed, modes, acks, torn))
    store.close()
    return results


def test_sigkilled_producers_lose_nothing_acknowledged(tmp_path):
    data_dir = tmp_path / "data"
    rng = random.Random(20240229)
    results = []
    for first in range(0, TRIALS, PARALLEL):
        results += run_round(data_dir, tmp_path, rng, first)
    assert len(results) == TRIALS
    totals = {k: sum(r[k] for r in results) for k in results[0]}
    # The trials did what they are for: appends were acknowledged and then cut short.
    assert totals["acknowledged_batches"] > TRIALS
    assert totals["truncated_bytes"] > 0
    assert totals["idempotent_retries_deduplicated"] > 0
