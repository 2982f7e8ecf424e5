"""The Jepsen-style trial (tests/cluster/jepsen.py), 20 rounds; 200 in benchmarks/soak_cluster.py."""

from __future__ import annotations

import pytest

from tests.cluster.jepsen import CONFIG, run_trial

pytestmark = pytest.mark.slow


def test_kill_9_a_random_broker_20_times_loses_and_duplicates_nothing(make_cluster):
    c = make_cluster(3, *CONFIG)
    result = run_trial(c, rounds=20, seed=16)
    assert result.problems == []
    assert result.failed == 0
    assert result.acked == result.sent == result.read
    assert result.acked > 1000
