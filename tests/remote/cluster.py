"""A Kafka cluster for tests: one `kcli serve` per test session, emptied before each test.

Loaded as a pytest plugin by tests/conftest.py.  ``kafka_cluster`` (session) starts the
server on first use; ``cluster`` (per test) hands it over empty: every topic and group of
the previous test deleted through the admin API, or, when that is impossible (a group with
live members), a fresh server on a fresh data directory.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.serve.helpers import ServeProcess

# Groups form at once, sessions may be as short as tests make them, and no topic appears
# without being created (the local store never creates one by itself either).
SERVE_CONFIG = (
    "group.initial.rebalance.delay.ms=0",
    "group.min.session.timeout.ms=100",
    "auto.create.topics.enable=false",
)
RESET_TIMEOUT_S = 60.0


class SharedCluster:
    """A `kcli serve` process that tests share, and the data directory behind it."""

    def __init__(self, root: Path):
        self.root = root
        self.generation = 0
        self.process: ServeProcess | None = None

    @property
    def bootstrap(self) -> str:
        return self.process.bootstrap

    @property
    def data_dir(self) -> Path:
        return self.process.data_dir

    def start(self) -> SharedCluster:
        self.generation += 1
        base = self.root / f"serve-{self.generation}"
        data = base / "data"
        data.mkdir(parents=True)
        self.process = ServeProcess(data, base / "serve.log", SERVE_CONFIG).start()
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.alive():
            self.process.stop()

    def admin(self):
        from confluent_kafka.admin import AdminClient

        return AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 0})

    def reset(self) -> SharedCluster:
        """Delete every topic and group; restart on a fresh directory if that fails."""
        if self.process is None or not self.process.alive():
            return self.start()
        try:
            self._empty()
        except Exception:
            self.stop()
            self.start()
        return self

    def _empty(self) -> None:
        admin = self.admin()
        groups = admin.list_consumer_groups(request_timeout=30).result(RESET_TIMEOUT_S)
        ids = [g.group_id for g in groups.valid]
        if ids:
            for future in admin.delete_consumer_groups(ids, request_timeout=30).values():
                future.result(RESET_TIMEOUT_S)
        topics = list(admin.list_topics(timeout=30).topics)
        if topics:
            for future in admin.delete_topics(topics, request_timeout=30).values():
                future.result(RESET_TIMEOUT_S)
        deadline = time.monotonic() + RESET_TIMEOUT_S
        while admin.list_topics(timeout=30).topics:
            if time.monotonic() > deadline:
                raise AssertionError("topics remain after deleting them")
            time.sleep(0.05)


@pytest.fixture(scope="session")
def kafka_cluster(tmp_path_factory):
    """The session's `kcli serve` (started on first use)."""
    shared = SharedCluster(tmp_path_factory.mktemp("kafka-cluster"))
    yield shared
    shared.stop()


@pytest.fixture
def cluster(kafka_cluster) -> SharedCluster:
    """The shared `kcli serve`, with no topics and no groups."""
    return kafka_cluster.reset()
