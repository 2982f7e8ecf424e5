"""Damage on disk: torn tails are repaired, indexes rebuilt, corruption reported loudly."""

from __future__ import annotations

import os
import re

import pytest

from storage import FakeClock, ProducerRecord, Store
from storage.errors import CorruptRecord
from storage.records import read_header

T0 = 1_700_000_000_000


def make_log(data_dir, batches=40, **config):
    config = {"segment.bytes": "6000", "index.interval.bytes": "500", **config}
    store = Store(data_dir, clock=FakeClock(T0))
    store.create_topic("t", 1, config)
    log = store.log("t", 0)
    for i in range(batches):
        log.append_records([ProducerRecord(b"%d-%d" % (i, j) * 20) for j in range(3)])
    return log


def fresh(log):
    """The same partition as a process that has just started sees it."""
    return Store(log.directory.parent, clock=FakeClock(T0)).log("t", 0)


def batches_of(path):
    data = path.read_bytes()
    out = []
    pos = 0
    while pos < len(data):
        header = read_header(data, pos)
        out.append((pos, header))
        pos += header.size
    return out


def read_all(log):
    out = []
    offset = log.log_start_offset
    while got := log.read_records(offset, None, max_bytes=2048):
        out += got
        offset = got[-1].offset + 1
    return out


def flip(path, position):
    with open(path, "r+b") as f:
        f.seek(position)
        byte = f.read(1)
        f.seek(position)
        f.write(bytes([byte[0] ^ 0x5A]))


def assert_names_file_and_position(exc, path, position):
    message = str(exc.value)
    assert str(path) in message
    assert re.search(rf"byte position {position}\b", message), message


@pytest.mark.parametrize("which", ["closed", "active"])
def test_a_flipped_byte_mid_segment_is_reported_never_truncated(data_dir, which):
    log = make_log(data_dir, batches=50)
    segments = log.segments()
    seg = segments[1] if which == "closed" else segments[-1]
    batches = batches_of(seg.path)
    assert len(batches) >= 3
    position, header = batches[len(batches) // 2]
    flip(seg.path, position + header.size // 2)
    sizes = {p: p.stat().st_size for p in log.directory.glob("*.log")}
    for reader in (log, fresh(log)):
        with pytest.raises(CorruptRecord) as exc:
            reader.read_records(header.base_offset, 1)
        assert_names_file_and_position(exc, seg.path, position)
        with pytest.raises(CorruptRecord):
            read_all(reader)
        # Batches before the damaged one still read.
        before = batches[0][1].base_offset
        assert reader.read_records(before, 1)[0].offset == before
    with pytest.raises(CorruptRecord) as exc:
        fresh(log).recover()
    assert_names_file_and_position(exc, seg.path, position)
    with pytest.raises(CorruptRecord):
        fresh(log).check()
    assert {p: p.stat().st_size for p in log.directory.glob("*.log")} == sizes


def test_a_flipped_byte_in_the_last_batch_is_corruption_too(data_dir):
    log = make_log(data_dir)
    seg = log.segments()[-1]
    position, header = batches_of(seg.path)[-1]
    flip(seg.path, position + header.size - 3)
    size = seg.path.stat().st_size
    with pytest.raises(CorruptRecord) as exc:
        fresh(log).recover()
    assert_names_file_and_position(exc, seg.path, position)
    with pytest.raises(CorruptRecord):
        fresh(log).append_records([ProducerRecord(b"more")])
    assert seg.path.stat().st_size == size


@pytest.mark.parametrize("which", ["middle", "last"])
def test_a_damaged_batch_length_is_not_mistaken_for_a_torn_tail(data_dir, which):
    log = make_log(data_dir, batches=50)
    seg = log.segments()[-1]
    batches = batches_of(seg.path)
    position, _header = batches[len(batches) // 2] if which == "middle" else batches[-1]
    with open(seg.path, "r+b") as f:
        f.seek(position + 8)
        f.write((10**6).to_bytes(4, "big"))  # batchLength now runs past the end of the file
    size = seg.path.stat().st_size
    with pytest.raises(CorruptRecord) as exc:
        fresh(log).recover()
    assert str(seg.path) in str(exc.value)
    with pytest.raises(CorruptRecord):
        read_all(fresh(log))
    assert seg.path.stat().st_size == size


def test_a_torn_tail_is_truncated_and_appends_continue(data_dir):
    log = make_log(data_dir)
    seg = log.segments()[-1]
    position, header = batches_of(seg.path)[-1]
    os.truncate(seg.path, position + header.size // 2)  # a writer killed mid-batch
    # Readers see the log up to the last whole batch, without error.
    reader = fresh(log)
    assert reader.log_end_offset == header.base_offset
    records = read_all(reader)
    assert [r.offset for r in records] == list(range(header.base_offset))
    # The next writer truncates the tail and goes on with the next offset.
    info = fresh(log).append_records([ProducerRecord(b"after")])
    assert info.base_offset == header.base_offset
    assert seg.path.stat().st_size == position + batches_of(seg.path)[-1][1].size
    assert read_all(reader)[-1].value == b"after"
    reader.check()


def test_recover_reports_a_torn_tail_and_a_zero_filled_tail(data_dir):
    log = make_log(data_dir)
    seg = log.segments()[-1]
    position, header = batches_of(seg.path)[-1]
    os.truncate(seg.path, position + 30)  # shorter than a batch header
    report = fresh(log).recover()
    assert report.truncated_bytes == 30
    assert report.log_end_offset == header.base_offset
    # What a machine crash can leave: the file grew, the data never reached the disk.
    with open(seg.path, "ab") as f:
        f.write(b"\0" * 5000)
    report = fresh(log).recover()
    assert report.truncated_bytes == 5000
    assert seg.path.stat().st_size == position
    # Garbage that is neither a batch nor zeros is corruption.
    with open(seg.path, "ab") as f:
        f.write(b"garbage!" * 20)
    with pytest.raises(CorruptRecord, match="no valid batch header"):
        fresh(log).recover()


def test_a_torn_batch_in_a_closed_segment_is_corruption(data_dir):
    log = make_log(data_dir)
    seg = log.segments()[1]
    position, header = batches_of(seg.path)[-1]
    os.truncate(seg.path, position + header.size - 10)
    with pytest.raises(CorruptRecord, match="incomplete batch"):
        fresh(log).recover()
    with pytest.raises(CorruptRecord):
        fresh(log).read_records(header.base_offset, 1)


def test_missing_and_damaged_indexes_are_rebuilt(data_dir):
    log = make_log(data_dir, batches=60)
    segments = log.segments()
    assert len(segments) >= 4
    originals = {
        p.name: p.read_bytes()
        for p in log.directory.iterdir()
        if p.suffix in (".index", ".timeindex")
    }
    expected = read_all(log)
    first, second, third, active = segments[0], segments[1], segments[2], segments[-1]
    (log.directory / f"{first.base_offset:020d}.index").unlink()
    (log.directory / f"{first.base_offset:020d}.timeindex").unlink()
    index = log.directory / f"{second.base_offset:020d}.index"
    index.write_bytes(bytes(reversed(index.read_bytes())))  # entries pointing anywhere
    timeindex = log.directory / f"{third.base_offset:020d}.timeindex"
    timeindex.write_bytes(timeindex.read_bytes()[:-5])  # a partial entry
    (log.directory / f"{active.base_offset:020d}.index").write_bytes(b"\x00" * 7)
    # Reads do not trust a damaged index: opening the log checks every segment's indexes
    # (as Kafka's sanity check on open) and rebuilds the damaged ones.
    reader = fresh(log)
    assert read_all(reader) == expected
    for r in expected[::7]:
        assert reader.read_records(r.offset, 1) == [r]
    reader.check()
    rebuilt = {
        p.name: p.read_bytes()
        for p in log.directory.iterdir()
        if p.suffix in (".index", ".timeindex")
    }
    assert rebuilt == originals  # byte for byte what the appends had written
    fresh(log).check()
    assert read_all(fresh(log)) == expected


def test_the_first_append_repairs_the_active_segments_index(data_dir):
    log = make_log(data_dir, batches=30, **{"segment.bytes": "1000000"})
    index = log.directory / f"{0:020d}.index"
    good = index.read_bytes()
    index.write_bytes(good[:-8] + (10**6).to_bytes(4, "big") * 2)  # last entry: nowhere
    writer = fresh(log)
    writer.append_records([ProducerRecord(b"x")])
    assert index.read_bytes()[: len(good)] == good
    writer.check()


def test_recover_removes_leftovers(data_dir):
    log = make_log(data_dir, batches=5)
    (log.directory / f"{12345:020d}.index").write_bytes(b"")  # no .log: a crashed roll
    (log.directory / f"{0:020d}.index.tmp").write_bytes(b"half")
    report = fresh(log).recover()
    assert set(report.removed_files) == {f"{12345:020d}.index", f"{0:020d}.index.tmp"}
    assert report.truncated_bytes == 0 and report.rebuilt_indexes == ()
    assert not (log.directory / f"{12345:020d}.index").exists()
