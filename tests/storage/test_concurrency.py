"""Several real processes appending to one partition while others read it."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from kafka.record import MemoryRecords

from storage import Store

WORKER = str(Path(__file__).with_name("storage_worker.py"))
TIMEOUT_S = 300


def start(*args):
    return subprocess.Popen(
        [sys.executable, WORKER, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc):
    out, err = proc.communicate(timeout=TIMEOUT_S)
    assert proc.returncode == 0, f"{proc.args} failed:\n{out}\n{err}"
    return out


def test_concurrent_appenders_and_readers(tmp_path):
    data_dir = tmp_path / "data"
    writers, batches, records = 4, 60, 7
    total = writers * batches * records
    store = Store(data_dir)
    # Small segments, so that processes also roll segments under each other.
    store.create_topic("t", 1, {"segment.bytes": "4000", "index.interval.bytes": "500"})
    go = tmp_path / "go"
    procs = [start("append", data_dir, "t", w, batches, records, go) for w in range(writers)]
    readers = [start("read", data_dir, "t", total, go) for _ in range(2)]
    go.touch()
    acks = defaultdict(list)
    for w, proc in enumerate(procs):
        for line in finish(proc).splitlines():
            base, last = map(int, line.split())
            acks[w].append((base, last))
    for proc in readers:
        assert f"read {total} records" in finish(proc)

    log = store.log("t", 0)
    assert log.log_end_offset == total
    everything = []
    offset = 0
    while got := log.read_records(offset, None, max_bytes=1 << 20):
        everything += got
        offset = got[-1].offset + 1
    assert [r.offset for r in everything] == list(range(total))  # contiguous, nothing lost
    values = [r.value for r in everything]
    assert len(set(values)) == total  # nothing twice
    for w in range(writers):
        # Each acknowledged append holds exactly that writer's batch, whole and in order.
        assert len(acks[w]) == batches
        for b, (base, last) in enumerate(acks[w]):
            assert last - base + 1 == records
            assert values[base : last + 1] == [b"w%d:%d:%d" % (w, b, i) for i in range(records)]
    # Segments rolled by different processes line up, and kafka-python reads them all.
    segments = log.segments()
    assert len(segments) > 5
    offsets = []
    for seg in segments:
        memory = MemoryRecords(seg.path.read_bytes())
        while (batch := memory.next_batch()) is not None:
            assert batch.validate_crc()
            offsets += [r.offset for r in batch]
    assert offsets == list(range(total))
    log.check()


def test_readers_follow_while_retention_deletes_segments(tmp_path):
    data_dir = tmp_path / "data"
    store = Store(data_dir)
    store.create_topic(
        "t", 1, {"segment.bytes": "2000", "retention.bytes": "4000", "index.interval.bytes": "300"}
    )
    go = tmp_path / "go"
    total = 2 * 150 * 5
    procs = [start("append", data_dir, "t", w, 150, 5, go) for w in range(2)]
    readers = [start("read", data_dir, "t", total, go, "--from-start-offset") for _ in range(2)]
    go.touch()
    for proc in procs:
        finish(proc)
    for proc in readers:
        assert "read " in finish(proc)
    log = store.log("t", 0)
    assert log.log_end_offset == total
    assert log.log_start_offset > 0
    assert sum(s.size_bytes for s in log.segments()[:-1]) < 4000 + 2000
    log.check()
