"""Indexes are sanity-checked on open, as Kafka does (entries in order, inside the segment):
a damaged .index or .timeindex is rebuilt, and never changes what a read returns."""

from __future__ import annotations

import struct
import time

import pytest

from storage import ProducerRecord, Store

BASE_TS = int(time.time() * 1000) - 3_600_000  # recent: segment.ms must not roll
CONFIG = {"segment.bytes": "4000", "index.interval.bytes": "200", "retention.ms": "-1"}


@pytest.fixture
def data_dir(tmp_path):
    store = Store(tmp_path / "data")
    store.create_topic("t", 1, CONFIG)
    log = store.log("t", 0)
    for i in range(0, 600, 10):
        log.append_records(
            [ProducerRecord(b"v%03d" % j, timestamp=BASE_TS + j * 1000) for j in range(i, i + 10)]
        )
    assert len(log.segments()) >= 3
    store.close()
    return tmp_path / "data"


def _answers(data_dir):
    store = Store(data_dir)
    log = store.log("t", 0)
    times = [log.offset_for_time(BASE_TS + t * 1000 + 500) for t in range(0, 600, 7)]
    reads = [log.read_records(o, 1)[0].offset for o in range(0, 600, 13)]
    store.close()
    return times, reads


def _swap_entries(path, size):
    raw = bytearray(path.read_bytes())
    assert len(raw) >= 3 * size
    raw[0:size], raw[size : 2 * size] = raw[size : 2 * size], raw[0:size]
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize(
    "damage",
    ["timeindex-order", "timeindex-offset", "index-order", "index-position", "partial-entry"],
)
def test_a_damaged_index_is_rebuilt_and_reads_do_not_change(data_dir, damage):
    expected = _answers(data_dir)
    seg = sorted((data_dir / "t-0").glob("*.log"))[1]
    timeindex = seg.with_suffix(".timeindex")
    index = seg.with_suffix(".index")
    originals = {p: p.read_bytes() for p in (timeindex, index)}
    if damage == "timeindex-order":
        _swap_entries(timeindex, 12)
    elif damage == "timeindex-offset":
        raw = bytearray(timeindex.read_bytes())
        struct.pack_into(">I", raw, 12 + 8, 10_000)  # an offset far past the segment
        timeindex.write_bytes(bytes(raw))
    elif damage == "index-order":
        _swap_entries(index, 8)
    elif damage == "index-position":
        raw = bytearray(index.read_bytes())
        struct.pack_into(">I", raw, len(raw) - 4, 1 << 30)
        index.write_bytes(bytes(raw))
    else:
        index.write_bytes(index.read_bytes() + b"\x01\x02\x03")
    assert _answers(data_dir) == expected
    for path, original in originals.items():
        assert path.read_bytes() == original, path.name  # rebuilt exactly as appends wrote it
