"""`kcli learn watch` with its output in a pipe: plain lines each time the answer changes,
the lesson passed and the next one watched as the learner works from another process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import run_kcli


class _Lines:
    """What a watching process has printed so far, read by a thread."""

    def __init__(self, stream):
        self.text = ""
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream):
        for line in stream:
            self.text += line

    def wait_for(self, needle: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text:
            assert time.monotonic() < deadline, f"never printed {needle!r}:\n{self.text}"
            time.sleep(0.1)


def test_watch_in_a_pipe_follows_the_store_and_moves_on(data_dir):
    env = {k: v for k, v in os.environ.items() if k != "KCLI_DATA_DIR"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kcli", "--data-dir", str(data_dir), "learn", "watch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**env, "PYTHONUNBUFFERED": "1"},
    )
    try:
        out = _Lines(proc.stdout)
        out.wait_for("  ✗ topic 'hello' does not exist yet")
        for args in (
            ("topic", "create", "hello"),
            ("produce", "hello", "a", "b", "c"),
            ("topic", "create", "signups"),
        ):
            assert run_kcli(data_dir, *args).returncode == 0
        out.wait_for("  ✓ topic 'hello' has 3 records")
        assert run_kcli(data_dir, "produce", "signups", "x", "y", "z").returncode == 0
        out.wait_for("✓ Lesson 1 passed.")
        out.wait_for("Lesson 2: Why not just a socket?")
        # Each answer is printed once, when it changes, not on every poll.
        time.sleep(2)
        assert out.text.count("Lesson 2: Why not just a socket?") == 1
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
        err = proc.stderr.read()
        assert "Traceback" not in err and "Stopped watching." in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    status = run_kcli(data_dir, "learn").stdout
    assert "1 of" in status and "lesson 2" in status


@pytest.mark.slow
def test_watch_judges_a_cluster_lesson_on_the_cluster_and_reset_deletes_it(data_dir):
    """Lesson 11 watched while a real cluster's follower leaves the ISR and rejoins; then
    `kcli learn reset 11` deletes the cluster, its processes first."""
    from tests.cluster.harness import free_port_range

    assert run_kcli(data_dir, "learn", "show", "11", "--no-pager").returncode == 0
    env = {k: v for k, v in os.environ.items() if k != "KCLI_DATA_DIR"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kcli", "--data-dir", str(data_dir), "learn", "watch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**env, "PYTHONUNBUFFERED": "1"},
    )
    pids: list[int] = []
    try:
        out = _Lines(proc.stdout)
        out.wait_for("  ✗ no cluster has run with this data directory yet")
        port = str(free_port_range(3))
        started = run_kcli(
            data_dir, "cluster", "start", "--port", port, "-c", "replica.lag.time.max.ms=1500"
        )
        assert started.returncode == 0, started.stderr
        status = json.loads(run_kcli(data_dir, "cluster", "status", "-o", "json").stdout)
        pids = [b["pid"] for b in status["brokers"]]
        cluster = ("--profile", "cluster")
        create = ("topic", "create", "views", "--replication-factor", "3")
        assert run_kcli(data_dir, *cluster, *create).returncode == 0
        out.wait_for("  ✗ no replica of 'views' has left the ISR yet")
        assert run_kcli(data_dir, "cluster", "pause", "2").returncode == 0
        values = "\n".join(f"v{i}" for i in range(200))
        assert run_kcli(data_dir, *cluster, "produce", "views", input=values).returncode == 0
        out.wait_for("  ✓ a replica of 'views' left the ISR")
        assert run_kcli(data_dir, "cluster", "resume", "2").returncode == 0
        out.wait_for("✓ Lesson 11 passed.")
        out.wait_for("Lesson 12: acks and min.insync.replicas")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reset = run_kcli(data_dir, "learn", "reset", "11", "--yes")
    assert reset.returncode == 0, reset.stderr
    assert "the cluster" in reset.stderr + reset.stdout
    assert not (data_dir / "cluster").exists()
    assert pids and not [pid for pid in pids if _alive(pid)]


def _alive(pid: int) -> bool:
    """Running (a killed process its parent has not reaped yet, a zombie, is not)."""
    try:
        status = open(f"/proc/{pid}/status").read()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status
