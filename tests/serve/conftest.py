"""Fixtures: a real `kcli serve` process on a free port, with a fresh data directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import FAST_GROUPS, ServeProcess


@pytest.fixture
def serve_factory(tmp_path):
    started: list[ServeProcess] = []

    def make(*config: str, data_dir: Path | None = None) -> ServeProcess:
        d = data_dir or tmp_path / "data"
        d.mkdir(exist_ok=True)
        proc = ServeProcess(d, tmp_path / f"serve-{len(started)}.log", tuple(config))
        started.append(proc)
        return proc.start()

    yield make
    for proc in started:
        if proc.alive():
            proc.proc.kill()
            proc.proc.wait()


@pytest.fixture
def server(serve_factory) -> ServeProcess:
    return serve_factory(*FAST_GROUPS)


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory):
    """One server for a module's tests that do not need a fresh store."""
    d = tmp_path_factory.mktemp("serve")
    (d / "data").mkdir()
    proc = ServeProcess(d / "data", d / "serve.log", FAST_GROUPS).start()
    yield proc
    if proc.alive():
        proc.proc.kill()
        proc.proc.wait()
