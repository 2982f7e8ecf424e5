"""`kcli learn watch` with its output in a pipe: plain lines each time the answer changes,
the lesson passed and the next one watched as the learner works from another process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

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
