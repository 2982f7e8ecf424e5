"""Fixtures every test directory may use: a fresh data directory and a ``kcli`` runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# `kafka_cluster` and `cluster`: one `kcli serve` per session for the tests that run against
# a Kafka cluster (see tests/remote/cluster.py).
pytest_plugins = ["tests.remote.cluster"]

# Generous: two shared cores can make a process start take seconds.
KCLI_TIMEOUT_S = 120


# What `python -m pytest -m "not slow"` leaves out (the everyday subset; README says so):
# paths of slow test modules or directories, or one test (path::name, every parameter of
# it), with why; and every CLI contract test's [remote] run (the same test again through
# kcli serve, see tests/remote/cluster.py).
SLOW = {
    "tests/crash": "kill -9 crash loops",
    "tests/e2e": "end-to-end tours of the CLI",
    "tests/spark": "a Spark session and streaming queries",
    "tests/demos": "the live demos, as processes",
    "tests/learn/test_lessons.py": "every lesson executed",
    "tests/learn/test_checks.py::test_lesson_10_does_not_pass_right_after_try_it": (
        "a real 4-broker cluster started for a lesson"
    ),
    "tests/serve/test_serve_fuzz.py": "protocol fuzzing against a server",
    "tests/serve/test_serve_js_clients.py": "the JavaScript clients, as node processes",
    "tests/groups/test_group_processes.py": "groups of consumer processes",
    "tests/groups/test_rebalance_protocols.py": "groups of consumer processes rebalancing",
}


def _listed_slow(where: str, test: str) -> bool:
    return any(where == p or where.startswith(p + "/") or f"{where}::{test}" == p for p in SLOW)


def pytest_collection_modifyitems(config, items):
    root = Path(__file__).resolve().parent.parent
    for item in items:
        where = Path(item.fspath).resolve().relative_to(root).as_posix()
        test = getattr(item, "originalname", None) or item.name
        if _listed_slow(where, test) or "[remote" in item.nodeid:
            item.add_marker(pytest.mark.slow)


def pytest_configure(config):
    # kafka-python 3.0 (an independent reader of our files) loads its schemas with a
    # deprecated importlib.resources API.
    config.addinivalue_line(
        "filterwarnings", "ignore:.*is deprecated. Use files\\(\\) instead:DeprecationWarning"
    )


@pytest.fixture
def data_dir(tmp_path) -> Path:
    """A data directory that does not exist yet (the store creates it)."""
    return tmp_path / "data"


def run_kcli(
    data_dir: Path,
    *args: str,
    input: str | bytes | None = None,
    env: dict[str, str] | None = None,
    timeout: float = KCLI_TIMEOUT_S,
    text: bool = True,
) -> subprocess.CompletedProcess:
    """Run ``kcli --data-dir DATA_DIR ARGS...`` as a real process; never raises on exit codes.

    The user's KCLI_DATA_DIR is removed from the environment so that nothing but the test's
    directory can be touched.
    """
    full_env = {k: v for k, v in os.environ.items() if k != "KCLI_DATA_DIR"}
    full_env["PYTHONUNBUFFERED"] = "1"
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "kcli", "--data-dir", str(data_dir), *args],
        input=input,
        capture_output=True,
        text=text,
        env=full_env,
        timeout=timeout,
    )


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    """``result``, after checking the command succeeded without a traceback."""
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """The one ``Error:`` line of a command that failed as bad input should (exit 1, no
    traceback)."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, result.stderr
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def json_lines(text: str) -> list[dict]:
    """The objects of a JSON Lines output (blank lines skipped)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def kcli(data_dir):
    """``kcli("topic", "list")`` runs kcli on the test's data directory (see ``run_kcli``)."""

    def run(*args: str, **kwargs) -> subprocess.CompletedProcess:
        return run_kcli(data_dir, *args, **kwargs)

    return run
