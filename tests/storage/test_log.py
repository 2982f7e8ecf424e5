"""One partition's log: segments, indexes, reads, time lookups, limits and retention."""

from __future__ import annotations

import os
import random
import struct
import threading

import pytest
from kafka.record import MemoryRecords
from kafka.record.default_records import DefaultRecordBatchBuilder

from storage import FakeClock, ProducerRecord, Record, Store
from storage.errors import CorruptRecord, OffsetOutOfRange, RecordTooLarge
from storage.records import encode_batch, read_header, split_batches

T0 = 1_700_000_000_000


def open_log(data_dir, clock=None, **config):
    store = Store(data_dir, clock=clock or FakeClock(T0))
    store.create_topic("t", 1, {k.replace("_", "."): str(v) for k, v in config.items()})
    return store, store.log("t", 0)


def values(n, size=100, prefix=b""):
    return [ProducerRecord(prefix + b"%08d" % i + b"x" * (size - 8)) for i in range(n)]


def batch_positions(path):
    """(position, base offset, last offset, size) of every batch in a .log file."""
    data = path.read_bytes()
    out = []
    pos = 0
    while pos < len(data):
        header = read_header(data, pos)
        out.append((pos, header.base_offset, header.last_offset, header.size))
        pos += header.size
    return out


def all_records(log):
    out = []
    offset = log.log_start_offset
    while True:
        got = log.read_records(offset, None, max_bytes=4096)
        if not got:
            return out
        out += got
        offset = got[-1].offset + 1


def kafka_python_read(path):
    out = []
    memory = MemoryRecords(path.read_bytes())
    while (batch := memory.next_batch()) is not None:
        assert batch.validate_crc()
        for r in batch:
            out.append(Record(r.offset, r.timestamp, r.key, r.value, tuple(map(tuple, r.headers))))
    return out


def test_roll_by_segment_bytes_with_kafka_file_names(data_dir):
    _, log = open_log(data_dir, segment_bytes=3000)
    for i in range(40):
        log.append_records(values(2 + i % 3, 120, b"%d-" % i))
    segments = log.segments()
    assert len(segments) > 5
    names = sorted(p for p in os.listdir(log.directory) if p.endswith(".log"))
    assert names == [f"{s.base_offset:020d}.log" for s in segments]
    for s in segments:
        assert os.path.exists(log.directory / f"{s.base_offset:020d}.index")
        assert os.path.exists(log.directory / f"{s.base_offset:020d}.timeindex")
        assert s.size_bytes <= 3000
        batches = batch_positions(s.path)
        assert batches[0][1] == s.base_offset  # a segment is named by its first offset
        assert batches[-1][2] + 1 == s.next_offset
    for a, b in zip(segments, segments[1:], strict=False):
        assert a.next_offset == b.base_offset
        assert a.size_bytes + batch_positions(b.path)[0][3] > 3000  # rolled only when full
    assert [s.active for s in segments] == [False] * (len(segments) - 1) + [True]
    assert log.log_end_offset == sum(2 + i % 3 for i in range(40))


def test_roll_by_segment_ms(data_dir):
    clock = FakeClock(T0)
    _, log = open_log(data_dir, clock, segment_ms=1000)
    log.append_records(values(3))
    clock.advance(600)
    log.append_records(values(3))
    assert len(log.segments()) == 1
    clock.advance(600)  # 1200 ms after the first batch's timestamp
    info = log.append_records(values(3))
    segments = log.segments()
    assert [s.base_offset for s in segments] == [0, 6]
    assert info.base_offset == 6
    clock.advance(500)
    log.append_records(values(1))
    assert len(log.segments()) == 2


def test_index_entry_every_index_interval_bytes(data_dir):
    _, log = open_log(data_dir, index_interval_bytes=1000)
    rng = random.Random(5)
    for _ in range(120):
        log.append_records(values(rng.randint(1, 4), rng.randint(20, 300)))
    seg = log.segments()[0]
    # What Kafka's LogSegment.append does: an entry for a batch when more than
    # index.interval.bytes were appended since the last indexed batch started.
    expected = []
    last = 0
    for position, _base, last_offset, _size in batch_positions(seg.path):
        if position - last > 1000:
            expected.append((last_offset, position))
            last = position
    raw = (log.directory / f"{0:020d}.index").read_bytes()
    assert len(raw) == 8 * len(expected) > 10
    assert list(struct.iter_unpack(">II", raw)) == expected  # base offset 0: relative = absolute
    times = list(struct.iter_unpack(">qI", (log.directory / f"{0:020d}.timeindex").read_bytes()))
    assert times
    assert all(a[0] < b[0] and a[1] < b[1] for a, b in zip(times, times[1:], strict=False))


def test_read_at_any_offset_and_across_segments(data_dir):
    _, log = open_log(data_dir, segment_bytes=2500, index_interval_bytes=300)
    rng = random.Random(7)
    produced = []
    for i in range(60):
        batch = [
            ProducerRecord(
                b"%d.%d" % (i, j) * rng.randint(1, 30),
                key=None if j % 2 else b"k%d" % j,
                headers=(("n", b"%d" % j),) if j == 1 else (),
                timestamp=T0 + i,
            )
            for j in range(rng.randint(1, 5))
        ]
        info = log.append_records(batch)
        produced += [
            Record(info.base_offset + j, r.timestamp, r.key, r.value, r.headers)
            for j, r in enumerate(batch)
        ]
    assert len(log.segments()) > 3
    for record in produced:
        assert log.read_records(record.offset, 1) == [record]
        assert log.read_records(record.offset, 3) == produced[record.offset : record.offset + 3]
    assert all_records(log) == produced
    # Fetches of raw batches cross segment boundaries and start at the batch holding the offset.
    data = log.read(0, max_bytes=10**6).records
    assert [r.offset for r in kafka_python_read_bytes(data)] == [r.offset for r in produced]
    middle = produced[len(produced) // 2].offset
    fetched = log.read(middle, max_bytes=1).records
    first = read_header(fetched)
    assert first.base_offset <= middle <= first.last_offset and first.size == len(fetched)


def kafka_python_read_bytes(data):
    out = []
    memory = MemoryRecords(data)
    while (batch := memory.next_batch()) is not None:
        out += list(batch)
    return out


def test_read_returns_a_batch_bigger_than_max_bytes(data_dir):
    _, log = open_log(data_dir)
    log.append_records([ProducerRecord(b"x" * 20_000)])
    log.append_records([ProducerRecord(b"y")])
    result = log.read(0, max_bytes=100)
    assert len(result.records) > 20_000
    assert [r.value[:1] for r in kafka_python_read_bytes(result.records)] == [b"x"]
    assert result.high_watermark == 2 and result.log_start_offset == 0
    assert log.read(2, max_bytes=100).records == b""


def test_offset_for_time(data_dir):
    _, log = open_log(data_dir, segment_bytes=1500, index_interval_bytes=200)
    rng = random.Random(3)
    timestamps = []
    for _ in range(80):
        batch = [ProducerRecord(b"v" * 40, timestamp=T0 + rng.randint(0, 5000)) for _ in range(3)]
        log.append_records(batch)
        timestamps += [r.timestamp for r in batch]
    assert len(log.segments()) > 3
    for target in [T0 - 1, T0, T0 + 1, T0 + 2500, T0 + 4999, T0 + 5000, *timestamps[:40]]:
        expected = next((o for o, ts in enumerate(timestamps) if ts >= target), None)
        assert log.offset_for_time(target) == expected, target
    assert log.offset_for_time(max(timestamps) + 1) is None


def test_offset_out_of_range_says_what_is_valid(data_dir):
    _, log = open_log(data_dir)
    log.append_records(values(5))
    for bad in (-1, 6, 1000):
        with pytest.raises(OffsetOutOfRange) as exc:
            log.read(bad)
        assert exc.value.log_start_offset == 0 and exc.value.log_end_offset == 5
        assert "valid offsets are 0..5" in str(exc.value)
        with pytest.raises(OffsetOutOfRange):
            log.read_records(bad, 1)
    assert log.read(5).records == b""
    assert log.read_records(5) == []


def test_log_append_time_replaces_timestamps(data_dir):
    clock = FakeClock(T0 + 123)
    _, log = open_log(data_dir, clock, message_timestamp_type="LogAppendTime")
    info = log.append_records([ProducerRecord(b"a", timestamp=5), ProducerRecord(b"b")])
    assert info.log_append_time == T0 + 123
    assert [r.timestamp for r in log.read_records(0)] == [T0 + 123] * 2
    path = log.segments()[0].path
    batch = MemoryRecords(path.read_bytes()).next_batch()
    assert batch.validate_crc() and batch.timestamp_type == 1
    assert [r.timestamp for r in batch] == [T0 + 123] * 2
    assert log.offset_for_time(T0 + 123) == 0


def test_max_message_bytes_rejects_and_writes_nothing(data_dir):
    _, log = open_log(data_dir, max_message_bytes=1000)
    log.append_records(values(2))
    size = log.size_bytes()
    big = encode_batch([ProducerRecord(b"x" * 1500)], timestamp=T0)
    ok = encode_batch([ProducerRecord(b"y")], timestamp=T0)
    with pytest.raises(RecordTooLarge, match="max.message.bytes=1000"):
        log.append([ok, big])
    with pytest.raises(RecordTooLarge, match="max.message.bytes=1000"):
        log.append_records([ProducerRecord(b"x" * 1500)])
    assert log.size_bytes() == size and log.log_end_offset == 2
    # Many small records are split into batches that fit.
    info = log.append_records(values(30, 100))
    assert info.count == 30
    assert all(b[3] <= 1000 for b in batch_positions(log.segments()[0].path))


def test_a_bad_batch_in_a_list_rejects_the_whole_append(data_dir):
    _, log = open_log(data_dir)
    good = encode_batch([ProducerRecord(b"good")], timestamp=T0)
    bad = bytearray(encode_batch([ProducerRecord(b"bad!")], timestamp=T0))
    bad[-1] ^= 1
    with pytest.raises(CorruptRecord, match="batch 1 .*CRC-32C mismatch"):
        log.append([good, bytes(bad)])
    inconsistent = bytearray(good)
    struct.pack_into(">i", inconsistent, 57, 2)  # recordsCount 2 with lastOffsetDelta 0
    inconsistent[17:21] = struct.pack(">I", __import__("crc32c").crc32c(inconsistent[21:]))
    with pytest.raises(CorruptRecord, match="recordsCount"):
        log.append(bytes(inconsistent))
    assert log.log_end_offset == 0 and log.size_bytes() == 0


def test_retention_by_time_judged_by_largest_timestamp(data_dir):
    clock = FakeClock(T0)
    _, log = open_log(data_dir, clock, segment_bytes=600, retention_ms=10_000)
    for i in range(12):
        log.append_records([ProducerRecord(b"v" * 200, timestamp=T0 + i * 1000)])
    segments = log.segments()
    assert len(segments) >= 4
    # A closed segment holding an old and a newer record is kept until the newer one expires.
    clock.set(T0 + 15_500)
    deleted = log.apply_retention()
    assert deleted and all(d.reason == "retention.ms" for d in deleted)
    for d in deleted:
        assert max(T0 + o * 1000 for o in range(d.base_offset, d.next_offset)) < T0 + 5_500
        assert not (log.directory / f"{d.base_offset:020d}.log").exists()
        assert not (log.directory / f"{d.base_offset:020d}.index").exists()
    kept = log.segments()
    assert kept[0].largest_timestamp >= T0 + 5_500
    assert log.log_start_offset == deleted[-1].next_offset == kept[0].base_offset
    assert log.read_records(log.log_start_offset, 1)[0].offset == log.log_start_offset
    with pytest.raises(OffsetOutOfRange):
        log.read(0)
    # Everything is old now: every closed segment goes, the active one stays.
    clock.set(T0 + 10**9)
    log.apply_retention()
    assert len(log.segments()) == 1 and log.segments()[0].active
    assert log.log_end_offset == 12
    assert log.read_records(log.log_start_offset)


def test_retention_by_size(data_dir):
    _, log = open_log(data_dir, segment_bytes=1000, retention_bytes=2500)
    # Retention runs on each roll: the log never holds much more than retention.bytes.
    for _ in range(30):
        log.append_records(values(2, 150))
        closed = log.segments()[:-1]
        assert sum(s.size_bytes for s in closed) - closed[0].size_bytes < 2500 if closed else True
    segments = log.segments()
    assert log.log_start_offset == segments[0].base_offset > 0
    assert log.log_end_offset == 60
    assert all_records(log)[0].offset == log.log_start_offset


def test_retention_never_deletes_the_active_segment(data_dir):
    clock = FakeClock(T0)
    _, log = open_log(data_dir, clock, retention_ms=1, retention_bytes=0)
    log.append_records(values(3))
    clock.advance(10**6)
    assert log.apply_retention() == []
    assert log.log_end_offset == 3 and len(log.read_records(0)) == 3


def test_every_log_file_reads_with_kafka_python(data_dir):
    _, log = open_log(data_dir, segment_bytes=4000)
    rng = random.Random(11)
    produced = []
    for _ in range(50):
        batch = []
        for j in range(rng.randint(1, 6)):
            batch.append(
                ProducerRecord(
                    None if rng.random() < 0.1 else rng.randbytes(rng.randint(0, 200)),
                    key=None if rng.random() < 0.5 else b"key-%d" % rng.randint(0, 9),
                    headers=tuple((f"h{k}", rng.randbytes(3)) for k in range(rng.randint(0, 2))),
                    timestamp=None if j == 0 else T0 + rng.randint(-100, 100),
                )
            )
        info = log.append_records(batch)
        produced += [
            Record(
                info.base_offset + j,
                T0 if r.timestamp is None else r.timestamp,
                r.key,
                r.value,
                r.headers,
            )
            for j, r in enumerate(batch)
        ]
    files = sorted(log.directory.glob("*.log"))
    assert len(files) > 3
    seen = []
    for path in files:
        seen += kafka_python_read(path)
    assert seen == produced
    assert all_records(log) == produced


@pytest.mark.parametrize("compression", [0, 1])  # none, gzip
def test_kafka_python_batches_are_stored_byte_for_byte(data_dir, compression):
    _, log = open_log(data_dir)
    log.append_records(values(3))  # so the client's batches get offsets other than 0
    originals = []
    expected = []
    for b in range(3):
        builder = DefaultRecordBatchBuilder(2, compression, False, -1, -1, -1, 1 << 20)
        for i in range(20):
            key = b"k%d" % i if i % 2 else None
            hdrs = [("trace", b"%d" % i)] if i % 3 == 0 else []
            builder.append(
                i, timestamp=T0 + i, key=key, value=b"v%d-%d" % (b, i) * 10, headers=hdrs
            )
            expected.append((T0 + i, key, b"v%d-%d" % (b, i) * 10, tuple(hdrs)))
        originals.append(bytes(builder.build()))
    info = log.append(originals)
    assert (info.base_offset, info.last_offset) == (3, 62)
    stored = log.segments()[0].path.read_bytes()
    batches = [bytes(v) for v in split_batches(stored)][1:]
    for n, (original, on_disk) in enumerate(zip(originals, batches, strict=True)):
        assert on_disk[8:] == original[8:]  # everything but baseOffset, unchanged
        assert struct.unpack(">q", on_disk[:8])[0] == 3 + 20 * n
    records = log.read_records(3)
    assert [r.offset for r in records] == list(range(3, 63))
    assert [(r.timestamp, r.key, r.value, r.headers) for r in records] == expected
    assert [r.offset for r in kafka_python_read(log.segments()[0].path)] == list(range(63))


def test_threads_share_a_log_and_flushes_group_commit(data_dir):
    _, log = open_log(data_dir, segment_bytes=5000)
    errors = []

    def produce(thread):
        try:
            for i in range(40):
                log.append_records([b"t%d:%d:%d" % (thread, i, j) for j in range(5)], fsync=False)
                log.flush()
        except Exception as exc:  # reported below: a thread's exception would vanish
            errors.append(exc)

    threads = [threading.Thread(target=produce, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    values = [r.value for r in all_records(log)]
    assert len(values) == len(set(values)) == 4 * 40 * 5
    for t in range(4):
        mine = [v for v in values if v.startswith(b"t%d:" % t)]
        assert mine == [b"t%d:%d:%d" % (t, i, j) for i in range(40) for j in range(5)]
    assert len(log.segments()) > 3
    assert log._writer.durable_writes == log._writer.writes  # every write covered by an fsync
    log.check()
