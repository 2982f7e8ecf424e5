"""A Kafka cluster for tests: one `kcli serve` per test session, emptied before each test.

Loaded as a pytest plugin by tests/conftest.py.  ``kafka_cluster`` (session) starts the
server on first use; ``cluster`` (per test) hands it over empty: every topic and group of
the previous test deleted through the admin API, or, when that is impossible (a group with
live members), a fresh server on a fresh data directory.
"""

from __future__ import annotations

import os
import sys
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
# A cluster or profile chosen in the developer's shell must not turn local tests remote.
_CLUSTER_VARIABLES = ("KCLI_BOOTSTRAP_SERVER", "KCLI_PROFILE", "KCLI_CONFIG")


def pytest_configure(config):
    for name in _CLUSTER_VARIABLES:
        os.environ.pop(name, None)


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


# -- the CLI contract suite, twice: local store and cluster ---------------------------------
#
# tests/cli and tests/e2e take `data_dir` and `kcli` from `cli_data_dir` and `cli_runner`
# below (their conftest.py renames them), so each of their tests runs as test[local] and
# test[remote].  A test marked @pytest.mark.local_only(reason) runs only as test[local]:
# it needs what only the local store has (files on disk, log dump).


def pytest_generate_tests(metafunc):
    if "backend_kind" in metafunc.fixturenames:
        local_only = metafunc.definition.get_closest_marker("local_only") is not None
        metafunc.parametrize("backend_kind", ["local"] if local_only else ["local", "remote"])


@pytest.fixture
def cli_data_dir(backend_kind, tmp_path, request) -> Path:
    """The data directory kcli's files are in: a fresh one locally; the shared cluster's
    (emptied for this test) when remote."""
    if backend_kind == "remote":
        return request.getfixturevalue("cluster").data_dir
    return tmp_path / "data"


@pytest.fixture
def cli_runner(backend_kind, cli_data_dir, request):
    """``kcli(*args)``: a real kcli process on the local store, or, remote, the same
    command with --bootstrap-server pointing at the shared cluster (whose data directory
    is ``data_dir``, so a test can still look at the files)."""
    from tests.conftest import run_kcli

    extra: tuple[str, ...] = ()
    if backend_kind == "remote":
        extra = ("--bootstrap-server", request.getfixturevalue("cluster").bootstrap)

    def run(*args: str, **kwargs):
        return run_kcli(cli_data_dir, *extra, *args, **kwargs)

    def argv(*args: str) -> list[str]:
        """The command line of the same kcli process, for tests that start it themselves."""
        return [sys.executable, "-m", "kcli", "--data-dir", str(cli_data_dir), *extra, *args]

    run.backend = backend_kind
    run.global_args = extra
    run.argv = argv
    return run
