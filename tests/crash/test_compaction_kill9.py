"""A real ``kcli topic compact`` process killed with SIGKILL at many moments loses nothing.

Each trial copies one prepared compacted topic (many small segments, many updates per key),
starts ``kcli topic compact`` on the copy, kills it with SIGKILL after a random delay spread
over the clean's whole duration, then checks, first as a reader that repairs nothing and then
after recovery: every record read is the one written at its offset, the latest record of every
key is there, and recovery leaves no ``.cleaned`` or ``.swap`` file behind.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time

from storage import ProducerRecord, Store

TRIALS = 24
KEYS = 40
UPDATES = 3000


def _updates():
    return [
        (f"user-{i % KEYS}".encode(), None if i % 97 == 0 else f"profile-{i}".encode())
        for i in range(UPDATES)
    ]


def _prepare(data_dir):
    store = Store(data_dir)
    # Written with cleanup.policy=delete, so that nothing cleans before the trials do.
    store.create_topic("users", 1, {"segment.bytes": "2000", "retention.ms": "-1"})
    log = store.log("users", 0)
    updates = _updates()
    for i in range(0, UPDATES, 10):
        log.append_records([ProducerRecord(v, key=k) for k, v in updates[i : i + 10]])
    store.alter_topic("users", config={"cleanup.policy": "compact"})
    store.close()
    return updates


def _compact(data_dir):
    env = {k: v for k, v in os.environ.items() if k != "KCLI_DATA_DIR"}
    return subprocess.Popen(
        [sys.executable, "-m", "kcli", "--data-dir", str(data_dir), "topic", "compact", "users"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )


def _verify(data_dir, updates, *, recover):
    log = Store(data_dir).log("users", 0)
    if recover:
        log.recover()
        log.check()
        left = [n for n in os.listdir(log.directory) if n.endswith((".cleaned", ".swap"))]
        assert left == [], left
    records = log.read_records(log.log_start_offset, max_records=UPDATES + 1)
    latest = {}
    for offset, (key, value) in enumerate(updates):
        latest[key] = (offset, value)
    got = {}
    for r in records:
        assert updates[r.offset] == (r.key, r.value), f"offset {r.offset} holds the wrong record"
        got[r.key] = (r.offset, r.value)
    assert got == latest  # the latest record of every key, tombstones included (horizon unset)
    offsets = [r.offset for r in records]
    assert offsets == sorted(set(offsets))
    return len(records)


def test_sigkilled_cleaner_loses_nothing(tmp_path):
    prepared = tmp_path / "prepared"
    updates = _prepare(prepared)
    # How long one whole clean takes here, so the kills spread over all of it.
    whole = tmp_path / "whole"
    shutil.copytree(prepared, whole)
    started = time.monotonic()
    proc = _compact(whole)
    _out, err = proc.communicate(timeout=300)
    duration = time.monotonic() - started
    assert proc.returncode == 0, err.decode()
    fully_cleaned = _verify(whole, updates, recover=True)
    assert fully_cleaned < UPDATES // 10  # the clean did clean
    rng = random.Random(19)
    outcomes = set()
    for trial in range(TRIALS):
        data_dir = tmp_path / f"trial-{trial}"
        shutil.copytree(prepared, data_dir)
        proc = _compact(data_dir)
        time.sleep(rng.uniform(0.2, 1.0) * duration)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(60)
        # A reader that repairs nothing sees a complete log, whatever the kill interrupted.
        _verify(data_dir, updates, recover=False)
        count = _verify(data_dir, updates, recover=True)
        outcomes.add(
            "untouched" if count == UPDATES else "done" if count == fully_cleaned else "part"
        )
        # And the next clean finishes the job.
        again = _compact(data_dir)
        _o, err = again.communicate(timeout=300)
        assert again.returncode == 0, err.decode()
        assert _verify(data_dir, updates, recover=True) == fully_cleaned
        shutil.rmtree(data_dir)
    # The kills landed before, during and (some) after the swaps.
    assert "part" in outcomes, outcomes
