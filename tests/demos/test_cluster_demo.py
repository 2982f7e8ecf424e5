"""``kcli demo cluster``: a real cluster of its own, read at 80 columns, and nothing left of it
afterwards: not at its end, not on Ctrl-C or SIGTERM in the middle, not when it cannot start.

Each run gets its own TMPDIR, so "nothing left" is checked exactly: no process whose command
line names that directory, and nothing in it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from learn.screen import Terminal

from kcli.demos._demo_cluster import processes_naming

from .summaries import CHECKS, summary_text


@pytest.fixture
def tmpdir_(tmp_path) -> Path:
    """The demo's TMPDIR; any process still naming it is killed when the test ends."""
    path = tmp_path / "tmp"
    path.mkdir()
    yield path
    for pid in processes_naming(path):
        os.kill(pid, signal.SIGKILL)


def _command(tmpdir_: Path, *args: str) -> str:
    # KCLI_CONFIG: the user's config file, which the demo must not write a profile to.
    return (
        f"TMPDIR={tmpdir_} KCLI_CONFIG={tmpdir_.parent / 'config.toml'} "
        f"kcli demo cluster --fast {' '.join(args)}"
    )


def _wait_screen(term: Terminal, pattern: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while not re.search(pattern, term.text(), re.M):
        assert time.monotonic() < deadline, f"never showed {pattern!r}:\n{term.text()}"
        time.sleep(0.1)
    return term.text()


def _nothing_left(tmpdir_: Path) -> None:
    assert processes_naming(tmpdir_) == []
    assert list(tmpdir_.iterdir()) == []
    assert not (tmpdir_.parent / "config.toml").exists()


def test_on_an_80_column_terminal_it_shows_the_cluster_and_leaves_nothing(tmpdir_, data_dir):
    term = Terminal(_command(tmpdir_), data_dir, 80, 30)
    try:
        live = _wait_screen(term, r"^2 +127\.0\.0\.1:\d+ +killed")  # the nodes table's row
        assert re.search(r"^TOPIC +PART +LEADER +EPOCH +REPLICAS +ISR +HW", live, re.M), live
        assert term.wait(240) == 0, term.text()
        assert all(len(line) <= 80 for line in term.lines())
        output = term.raw.decode(errors="replace")
    finally:
        term.close()
    assert "Traceback" not in output
    CHECKS["cluster"](summary_text(output))
    _nothing_left(tmpdir_)
    assert not data_dir.exists()  # the user's store is not where the cluster lives


@pytest.mark.parametrize(
    ("moment", "signum", "code"),
    [
        ("Starting 4 broker processes", signal.SIGINT, 130),  # while the cluster starts
        ("killed (SIGKILL)", signal.SIGINT, 130),  # while a broker is down
        ("killed (SIGKILL)", signal.SIGTERM, 143),
    ],
)
def test_interrupted_it_deletes_its_cluster(tmpdir_, data_dir, moment, signum, code):
    term = Terminal(_command(tmpdir_), data_dir, 80, 30)
    try:
        term.wait_for(moment, timeout=120)
        deadline = time.monotonic() + 60
        while not processes_naming(tmpdir_):  # its cluster's first process has started
            assert time.monotonic() < deadline, term.text()
            time.sleep(0.02)
        os.killpg(term.proc.pid, signum)
        assert term.wait(60) == code
        assert "Traceback" not in term.text()
        assert "Stopped: the demo's cluster is deleted" in term.text()
    finally:
        term.close()
    _nothing_left(tmpdir_)


def _run(tmpdir_: Path, data_dir: Path, script: str, extra_env: dict[str, str] | None = None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KCLI_")}
    env.update(TMPDIR=str(tmpdir_), KCLI_CONFIG=str(tmpdir_.parent / "config.toml"))
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=180
    )


_MAIN = "from kcli.app import main\nmain(['--data-dir', {!r}, 'demo', 'cluster', '--fast'])\n"


def test_without_confluent_kafka_it_says_how_to_install_it_before_starting_anything(
    tmpdir_, data_dir
):
    script = "import sys; sys.modules['confluent_kafka'] = None\n" + _MAIN.format(str(data_dir))
    result = _run(tmpdir_, data_dir, script)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: talking to a Kafka cluster needs confluent-kafka")
    assert len(result.stderr.strip().splitlines()) == 1
    _nothing_left(tmpdir_)


def test_a_cluster_that_cannot_start_is_one_line_quoting_the_failing_log(tmpdir_, data_dir):
    # Every broker process exits at once (a sitecustomize that only brokers act on).
    site = tmpdir_.parent / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import os, sys\n"
        "if b'kcli.cluster.broker' in open('/proc/self/cmdline', 'rb').read().split(b'\\0'):\n"
        "    sys.stderr.write('this broker cannot start\\n')\n"
        "    sys.stderr.flush()\n"
        "    os._exit(3)\n"
    )
    result = _run(tmpdir_, data_dir, _MAIN.format(str(data_dir)), {"PYTHONPATH": str(site)})
    assert result.returncode == 1, result.stderr
    assert re.fullmatch(
        r"Error: the demo's cluster did not start: broker \d exited at start; its log ended: "
        r"this broker cannot start\n",
        result.stderr,
    ), result.stderr
    _nothing_left(tmpdir_)
