"""NOT_ENOUGH_REPLICAS from a cluster is one clear line from `kcli produce` and `kcli perf
produce`, within seconds (kcli retries 5 times, not librdkafka's 5 minutes)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.conftest import ok, one_error_line, run_kcli


@pytest.fixture
def refusing_cluster(tmp_path):
    """A broker process answering every Produce with NOT_ENOUGH_REPLICAS (code 19)."""
    data = tmp_path / "data"
    ok(run_kcli(data, "topic", "create", "orders"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.remote.refusing_broker", str(data), "19"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("bootstrap.servers="), line
        yield data, line.strip().partition("=")[2]
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_produce_explains_not_enough_replicas_in_one_line(refusing_cluster):
    data, bootstrap = refusing_cluster
    started = time.monotonic()
    result = run_kcli(data, "--bootstrap-server", bootstrap, "produce", "orders", "v1", "v2")
    took = time.monotonic() - started
    line = one_error_line(result)
    assert line.startswith("Error: NOT_ENOUGH_REPLICAS: ")
    assert "fewer in-sync replicas than its min.insync.replicas" in line
    assert "--acks 1" in line and line.endswith("nothing was written")
    assert took < 60, took  # far from librdkafka's message.timeout.ms of 300 s
    assert ok(run_kcli(data, "consume", "orders")).stdout == ""


def test_perf_produce_explains_not_enough_replicas(refusing_cluster):
    data, bootstrap = refusing_cluster
    result = run_kcli(
        data, "--bootstrap-server", bootstrap, "perf", "produce", "orders", "-n", "5", "-s", "3"
    )
    line = one_error_line(result)
    assert line.startswith("Error: 5 records failed: NOT_ENOUGH_REPLICAS: ")
    assert "min.insync.replicas" in line
