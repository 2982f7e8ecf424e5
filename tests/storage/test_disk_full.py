"""A full disk (a small tmpfs): a failed append is rolled back to the previous log end, so
"nothing was written" is true and a retry duplicates nothing; a failed topic create or alter
leaves nothing behind.  Skipped with the reason where a tmpfs cannot be mounted."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from storage import Store
from storage.errors import DataDirError
from tests.privileges import cannot_run_here

SIZE = 4 << 20


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    out = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(mount)], capture_output=True
    )
    if out.returncode != 0:
        cannot_run_here(f"cannot mount a tmpfs here: {out.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)  # -l: open fds


def _fill(disk, leave: int) -> None:
    """Fill the file system until about ``leave`` bytes are free."""
    st = os.statvfs(disk)
    free = st.f_bavail * st.f_frsize
    with open(disk / "filler", "wb") as f:
        f.write(b"\0" * max(0, free - leave))


def _files(d):
    return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.name != ".lock"}


@pytest.mark.parametrize("segment_bytes", ["1073741824", "50000"], ids=["one-segment", "rolls"])
def test_a_failed_append_is_rolled_back(small_disk, segment_bytes):
    store = Store(small_disk / "data")
    store.create_topic("t", 1, {"segment.bytes": segment_bytes})
    log = store.log("t", 0)
    log.append_records([b"before-%d" % i for i in range(100)])
    before = _files(store.partition_dir("t", 0))
    _fill(small_disk, 100_000)
    records = [b"x" * 100 for _ in range(2000)]  # about 220 kB: cannot fit
    with pytest.raises(DataDirError, match="no space left on device") as err:
        log.append_records(records, batch_records=100)
    assert "rolled back to offset 100" in str(err.value)
    assert log.log_end_offset == 100
    assert _files(store.partition_dir("t", 0)) == before
    fresh = Store(small_disk / "data").log("t", 0)
    assert fresh.log_end_offset == 100
    assert [r.value for r in fresh.read_records(0)][-1] == b"before-99"
    # Space again: the retry stores each record once, right after the earlier ones.
    (small_disk / "filler").unlink()
    info = log.append_records(records, batch_records=100)
    assert (info.base_offset, info.last_offset) == (100, 2099)
    fresh.check()


def test_a_failed_produce_says_nothing_was_written_and_it_is_true(small_disk):
    data = small_disk / "data"
    store = Store(data)
    store.create_topic("t", 1)
    _fill(small_disk, 50_000)
    lines = "\n".join(f"line-{i:05d}-" + "y" * 90 for i in range(2000)) + "\n"
    out = subprocess.run(
        [sys.executable, "-m", "kcli", "--data-dir", str(data), "produce", "t"],
        input=lines,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1
    assert "nothing was written" in out.stderr and "Traceback" not in out.stderr
    assert Store(data).log("t", 0).log_end_offset == 0


@pytest.mark.parametrize("what", ["create", "alter"])
def test_a_failed_topic_create_or_alter_leaves_nothing(small_disk, what):
    store = Store(small_disk / "data")
    store.create_topic("t", 1)
    names = sorted(p.name for p in (small_disk / "data").iterdir())
    topic_files = sorted(p.name for p in (small_disk / "data" / "topics").iterdir())
    _fill(small_disk, 0)
    with pytest.raises(DataDirError, match="nothing was changed"):
        if what == "create":
            store.create_topic("u", 200)
        else:
            store.alter_topic("t", partitions=200)
    assert sorted(p.name for p in (small_disk / "data").iterdir()) == names
    assert sorted(p.name for p in (small_disk / "data" / "topics").iterdir()) == topic_files
    assert store.topic("t").partitions == 1
