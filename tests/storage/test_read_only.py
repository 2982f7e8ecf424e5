"""A store on a read-only file system: every read works, every write says "read-only file
system" in one line and changes nothing.  A read-only bind mount (chmod alone does not stop
root, which CI runs as); skipped with the reason where mounting is impossible."""

from __future__ import annotations

import hashlib
import subprocess

import pytest

from tests.conftest import run_kcli
from tests.privileges import cannot_run_here


def digest(root):
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        h.update(str(path.relative_to(root)).encode())
        if path.is_file():
            h.update(path.read_bytes())
    return h.hexdigest()


@pytest.fixture
def read_only_store(tmp_path):
    data = tmp_path / "data"
    for args in (
        ("topic", "create", "t", "--partitions", "2", "--config", "segment.bytes=200"),
        ("produce", "t", *[f"v{i}" for i in range(30)]),
    ):
        assert run_kcli(data, *args).returncode == 0
    mount = tmp_path / "ro"
    mount.mkdir()
    bound = subprocess.run(["mount", "--bind", str(data), str(mount)], capture_output=True)
    if bound.returncode != 0:
        cannot_run_here(f"cannot bind-mount here: {bound.stderr.decode().strip()}")
    try:
        ro = subprocess.run(["mount", "-o", "remount,bind,ro", str(mount)], capture_output=True)
        if ro.returncode != 0:
            cannot_run_here(f"cannot remount read-only here: {ro.stderr.decode().strip()}")
        yield data, mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)  # -l: open fds


def test_reads_work_on_a_read_only_store(read_only_store):
    data, mount = read_only_store
    before = digest(data)
    listed = run_kcli(mount, "topic", "list")
    assert listed.returncode == 0 and listed.stdout.split() == ["t"], listed.stderr
    described = run_kcli(mount, "topic", "describe", "t", "-o", "json")
    assert described.returncode == 0, described.stderr
    consumed = run_kcli(mount, "consume", "t", "--from-beginning")
    assert consumed.returncode == 0, consumed.stderr
    assert sorted(consumed.stdout.split()) == sorted(f"v{i}" for i in range(30))
    checked = run_kcli(mount, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert digest(data) == before


@pytest.mark.parametrize(
    "args",
    [
        ("produce", "t", "x"),
        ("topic", "create", "u"),
        ("topic", "delete", "t"),
        ("topic", "alter", "t", "--partitions", "3"),
        ("check", "--repair"),
    ],
    ids=["produce", "create", "delete", "alter", "repair"],
)
def test_writes_say_read_only_file_system(read_only_store, args):
    data, mount = read_only_store
    before = digest(data)
    out = run_kcli(mount, *args)
    assert out.returncode == 1, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "read-only file system" in lines[0], out.stderr
    assert "Traceback" not in out.stderr
    assert digest(data) == before
