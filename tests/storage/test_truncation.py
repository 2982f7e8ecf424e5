"""A segment file truncated at any byte by something outside kcli: readers see exactly the
batches before the cut and always terminate; the next writer truncates the torn tail, drops
index entries past it, and appends after the last whole batch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from storage import Store

CONFIG = {"segment.bytes": "6000", "index.interval.bytes": "100", "retention.ms": "-1"}


def _fill(data_dir, records=600):
    store = Store(data_dir)
    store.create_topic("t", 1, CONFIG)
    log = store.log("t", 0)
    for i in range(0, records, 10):
        log.append_records([b"value-%05d" % j for j in range(i, i + 10)])
    segments = log.segments()
    store.close()
    return segments


def _batch_ends(path):
    from storage.segment import Segment

    seg = Segment(path.parent, int(path.name.split(".")[0]))
    import os

    fd = os.open(path, os.O_RDONLY)
    try:
        return [(p.position + p.header.size, p.header.next_offset) for p in seg.iter_batches(fd)]
    finally:
        os.close(fd)


@pytest.mark.parametrize("fraction", [0.0, 0.01, 0.13, 0.5, 0.77, 0.999])
def test_a_truncated_active_segment_reads_what_is_left_and_recovers(tmp_path, fraction):
    segments = _fill(tmp_path / "data")
    assert len(segments) > 2
    active = segments[-1].path
    ends = _batch_ends(active)
    size = active.stat().st_size
    cut = int(size * fraction)
    with open(active, "r+b") as f:
        f.truncate(cut)
    whole = [offset for end, offset in ends if end <= cut]
    expected_end = whole[-1] if whole else segments[-1].base_offset
    store = Store(tmp_path / "data")
    log = store.log("t", 0)
    assert log.log_end_offset == expected_end
    values = [r.value for r in _read_all(log)]
    assert values == [b"value-%05d" % i for i in range(expected_end)]
    # A consumer in another process terminates and prints the same records.
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "kcli",
            "--data-dir",
            str(tmp_path / "data"),
            "consume",
            "t",
            "--from-beginning",
        ],
        capture_output=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == values
    # The next append goes right after the last whole batch, and the indexes are sane.
    info = log.append_records([b"after"])
    assert info.base_offset == expected_end
    log.check()
    assert [r.value for r in _read_all(log)][-1] == b"after"
    store.close()


def _read_all(log):
    out = []
    offset = log.log_start_offset
    while True:
        records = log.read_records(offset)
        if not records:
            return out
        out += records
        offset = records[-1].offset + 1


def test_truncation_at_every_byte_of_the_last_batches(tmp_path):
    """Every cut inside the last two batches of the active segment."""
    segments = _fill(tmp_path / "data", records=200)
    active = segments[-1].path
    original = active.read_bytes()
    ends = _batch_ends(active)
    start = ends[-3][0] if len(ends) >= 3 else 0
    for cut in range(start, len(original) + 1, 3):
        active.write_bytes(original[:cut])
        whole = [offset for end, offset in ends if end <= cut]
        store = Store(tmp_path / "data")
        log = store.log("t", 0)
        expected_end = whole[-1] if whole else segments[-1].base_offset
        assert log.log_end_offset == expected_end, cut
        assert len(_read_all(log)) == expected_end
        store.close()
