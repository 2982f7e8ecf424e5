"""Fixtures for the cluster tests: a fresh cluster per test, always deleted afterwards."""

from __future__ import annotations

import pytest

from tests.cluster.harness import LocalCluster


@pytest.fixture
def make_cluster(tmp_path):
    made = []

    def make(brokers: int = 3, *extra_config: str, start: bool = True) -> LocalCluster:
        c = LocalCluster(tmp_path / f"c{len(made)}", brokers)
        made.append(c)
        if start:
            c.start(*extra_config)
        return c

    yield make
    for c in made:
        c.delete()
