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


def json_lines(text: str) -> list[dict]:
    """The objects of a JSON Lines output (blank lines skipped)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def kcli(data_dir):
    """``kcli("topic", "list")`` runs kcli on the test's data directory (see ``run_kcli``)."""

    def run(*args: str, **kwargs) -> subprocess.CompletedProcess:
        return run_kcli(data_dir, *args, **kwargs)

    return run
