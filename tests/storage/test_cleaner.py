"""Log compaction (storage.cleaner): what the cleaner keeps, drops and leaves on disk."""

from __future__ import annotations

import os

import pytest
from kafka.record import MemoryRecords

from storage import FakeClock, InvalidRecord, ProducerRecord, Store, encode_batch
from storage.cleaner import DELETE_HORIZON_MASK, LogCleaner
from storage.cleaner_checkpoint import CleanerCheckpoint
from storage.constants import CLEANER_CHECKPOINT_FILE
from storage.records import decode_batch
from storage.segment_swap import swap_in

COMPACT = {"cleanup.policy": "compact", "segment.bytes": "400", "min.cleanable.dirty.ratio": "1"}


def _store(data_dir, clock=None, **config):
    store = Store(data_dir, clock=clock or FakeClock())
    store.create_topic("users", 1, {**COMPACT, **config})
    return store, store.log("users", 0)


def _produce(log, pairs):
    for key, value in pairs:
        log.append_records([ProducerRecord(value, key=key)])


def _updates(n, keys):
    return [(f"user-{i % keys}".encode(), f"profile-{i}".encode()) for i in range(n)]


def _all(log):
    return log.read_records(log.log_start_offset, max_records=1_000_000)


def test_latest_value_of_every_key_survives_with_its_offset(data_dir):
    store, log = _store(data_dir)
    updates = _updates(60, 5)
    _produce(log, updates)
    result = store.compact_topic("users")[0]
    records = _all(log)
    active_base = log.segments()[-1].base_offset
    cleaned = [r for r in records if r.offset < active_base]
    # In the cleaned part, one record per key, each the key's last update before the active one.
    latest = {}
    for offset, (key, value) in enumerate(updates):
        if offset < active_base:
            latest[key] = (offset, value)
    assert sorted((r.key, (r.offset, r.value)) for r in cleaned) == sorted(latest.items())
    assert result.records_removed == active_base - len(latest)
    # Offsets kept: the log has gaps, and every record is where it was written.
    for r in records:
        assert updates[r.offset] == (r.key, r.value)
    # The active segment is never cleaned.
    assert [r.offset for r in records if r.offset >= active_base] == list(
        range(active_base, log.log_end_offset)
    )


def test_active_segment_is_never_cleaned(data_dir):
    store, log = _store(data_dir, **{"segment.bytes": str(1 << 20)})
    _produce(log, _updates(50, 2))
    result = store.compact_topic("users")[0]
    assert result.skipped and "active segment" in result.skipped
    assert len(_all(log)) == 50


def test_a_tombstone_deletes_the_key_and_goes_after_delete_retention_ms(data_dir):
    clock = FakeClock()
    store, log = _store(data_dir, clock, **{"delete.retention.ms": "1000"})
    _produce(log, [(b"alice", b"v1"), (b"bob", b"v1"), (b"alice", None)])
    _produce(log, _updates(20, 3))  # roll past the tombstone
    store.compact_topic("users")
    kept = {r.key: r.value for r in _all(log)}
    assert b"bob" in kept and kept[b"alice"] is None  # the tombstone stays for now
    # Its batch carries the delete horizon, as Kafka's KIP-534 writes it.
    tomb_batch = _batch_holding(log, 2)
    assert tomb_batch[0] & DELETE_HORIZON_MASK
    assert tomb_batch[1] == clock.now_ms() + 1000
    clock.advance(999)
    store.compact_topic("users")
    assert b"alice" in {r.key for r in _all(log)}
    clock.advance(2)
    result = store.compact_topic("users")[0]
    assert b"alice" not in {r.key for r in _all(log)}
    assert sum(s.tombstones_dropped for s in result.segments) == 1


def _batch_holding(log, offset):
    from storage.records import read_header

    data = log.read(offset).records
    h = read_header(data)
    assert h.base_offset <= offset <= h.last_offset
    return h.attributes, h.base_timestamp


def test_record_timestamps_survive_a_delete_horizon(data_dir):
    clock = FakeClock()
    store, log = _store(data_dir, clock)
    log.append_records(
        [
            ProducerRecord(b"x", key=b"a", timestamp=111),
            ProducerRecord(None, key=b"b", timestamp=222),
        ]
    )
    _produce(log, _updates(20, 3))
    store.compact_topic("users")
    by_key = {r.key: r.timestamp for r in _all(log)}
    assert by_key[b"a"] == 111 and by_key[b"b"] == 222


def test_keyless_records_are_refused_on_a_compacted_topic(data_dir):
    store, log = _store(data_dir)
    before = log.log_end_offset
    with pytest.raises(InvalidRecord, match="Compacted topic cannot accept message without key"):
        log.append_records([ProducerRecord(b"v", key=b"k"), ProducerRecord(b"no key")])
    with pytest.raises(InvalidRecord):
        log.append(encode_batch([b"raw"], timestamp=1))
    assert log.log_end_offset == before


def test_a_producers_last_batch_is_kept_even_when_emptied(data_dir):
    store, log = _store(data_dir)
    pid = store.next_producer_id()
    log.append_records(
        [ProducerRecord(b"old", key=b"k")], producer_id=pid, producer_epoch=0, base_sequence=0
    )
    _produce(log, [(b"k", f"new{i}".encode()) for i in range(20)])
    store.compact_topic("users")
    data = log.read(0).records
    from storage.records import read_header

    h = read_header(data)
    # The batch is there with no records, its producer id, epoch and sequence kept.
    assert (h.base_offset, h.records_count, h.producer_id, h.base_sequence) == (0, 0, pid, 0)
    # The producer's retry is still recognised as a duplicate.
    retry = log.append_records(
        [ProducerRecord(b"old", key=b"k")], producer_id=pid, producer_epoch=0, base_sequence=0
    )
    assert retry.duplicate


def test_partly_cleaned_batches_keep_producer_fields_and_offset_range(data_dir):
    store, log = _store(data_dir)
    pid = store.next_producer_id()
    log.append_records(
        [ProducerRecord(f"v{i}".encode(), key=f"k{i % 3}".encode()) for i in range(9)],
        producer_id=pid,
        producer_epoch=3,
        base_sequence=0,
    )
    _produce(log, _updates(15, 2))
    store.compact_topic("users")
    from storage.records import read_header

    data = log.read(0).records
    h = read_header(data)
    assert (h.base_offset, h.last_offset, h.producer_id, h.producer_epoch, h.base_sequence) == (
        0,
        8,
        pid,
        3,
        0,
    )
    assert [r.offset for r in decode_batch(data[: h.size])] == [6, 7, 8]
    # Reads from inside the rewritten batch pick records by offset, not by position.
    assert [r.offset for r in log.read_records(7, max_records=2)] == [7, 8]
    assert [r.offset for r in log.read_records(2)][:3] == [6, 7, 8]
    assert [r.offset for r in decode_batch(data[: h.size], min_offset=8)] == [8]


def test_checkpoint_is_kafkas_format(data_dir):
    store, log = _store(data_dir)
    _produce(log, _updates(40, 4))
    result = store.compact_topic("users")[0]
    text = (data_dir / CLEANER_CHECKPOINT_FILE).read_text()
    assert text == f"0\n1\nusers 0 {result.cleaned_up_to}\n"
    assert CleanerCheckpoint(data_dir).get("users", 0) == log.segments()[-1].base_offset


def test_dirty_ratio_past_the_threshold_cleans_after_an_append(data_dir):
    store = Store(data_dir, clock=FakeClock())
    store.create_topic("users", 1, {"cleanup.policy": "compact", "segment.bytes": "400"})
    log = store.log("users", 0)
    _produce(log, _updates(80, 2))
    section = store.cleaner.section(log)
    # Cleaned without being asked: every closed segment was cleaned once.
    assert section.first_dirty_offset > 0
    assert len(_all(log)) < 80
    assert section.dirty_ratio < 0.5


def test_describe_shows_the_sections(data_dir):
    store, log = _store(data_dir)
    _produce(log, _updates(40, 4))
    p = store.describe_topic("users").partitions[0]
    # The first roll cleaned the first segment (a never-cleaned log's ratio is 1.0).
    assert p.compaction.dirty_ratio > 0.8 and p.compaction.dirty_bytes > 0
    store.compact_topic("users")
    p = store.describe_topic("users").partitions[0]
    assert p.compaction.first_dirty_offset == p.compaction.first_uncleanable_offset
    assert p.compaction.dirty_ratio == 0.0


def test_min_compaction_lag_keeps_young_segments_dirty(data_dir):
    clock = FakeClock()
    store, log = _store(data_dir, clock, **{"min.compaction.lag.ms": "60000"})
    log.append_records([ProducerRecord(b"v", key=b"k", timestamp=clock.now_ms())])
    _produce(log, [(b"k", b"w")] * 20)
    assert store.compact_topic("users")[0].records_removed == 0
    clock.advance(60_001)
    assert store.compact_topic("users")[0].records_removed > 0


def test_reads_into_a_gap_start_at_the_next_record(data_dir):
    store, log = _store(data_dir)
    _produce(log, _updates(40, 4))
    store.compact_topic("users")
    offsets = [r.offset for r in _all(log)]
    gap = next(o for o in range(offsets[-1]) if o not in offsets)
    after = next(o for o in offsets if o > gap)
    assert log.read_records(gap, max_records=1)[0].offset == after
    assert log.read_records(gap)[0].offset == after


def test_kafka_python_decodes_the_cleaned_log_files(data_dir):
    store, log = _store(data_dir)
    _produce(log, _updates(40, 4) + [(b"gone", b"x"), (b"gone", None)])
    _produce(log, _updates(20, 2))
    store.compact_topic("users")
    seen = []
    for seg in log.segments():
        records = MemoryRecords(seg.path.read_bytes())
        while records.has_next():
            batch = records.next_batch()
            for r in batch:
                seen.append((r.offset, r.key, r.value))
    assert seen == [(r.offset, r.key, r.value) for r in _all(log)]
    assert any(v is None for _o, _k, v in seen)


def test_compaction_is_idempotent_and_recovery_accepts_gaps(data_dir):
    store, log = _store(data_dir)
    _produce(log, _updates(50, 5))
    store.compact_topic("users")
    before = [(s.base_offset, s.size_bytes) for s in log.segments()]
    again = store.compact_topic("users")[0]
    assert again.records_removed == 0
    assert [(s.base_offset, s.size_bytes) for s in log.segments()] == before
    report = log.recover()
    assert report.truncated_bytes == 0
    log.check()
    # A new process sees the same.
    assert [r.offset for r in _all(Store(data_dir).log("users", 0))] == [
        r.offset for r in _all(log)
    ]


@pytest.mark.parametrize("steps", range(7))
def test_a_swap_cut_short_at_any_step_is_finished_or_undone(data_dir, steps):
    """Every state between the renames of a swap recovers to a complete, readable log."""
    store, log = _store(data_dir)
    updates = _updates(50, 5)
    _produce(log, updates)
    count = [0]

    class Cut(Exception):
        pass

    def after_step():
        count[0] += 1
        if count[0] > steps:
            raise Cut

    with pytest.raises(Cut):
        LogCleaner(data_dir).clean(log, after_step=after_step)
    fresh = Store(data_dir).log("users", 0)
    fresh.recover()
    fresh.check()
    leftovers = [n for n in os.listdir(fresh.directory) if n.endswith((".cleaned", ".swap"))]
    assert leftovers == []
    latest = {}
    for offset, (key, value) in enumerate(updates):
        latest[key] = (offset, value)
    got = {}
    for r in _all(fresh):
        assert updates[r.offset] == (r.key, r.value)  # nothing made up, offsets kept
        got[r.key] = (r.offset, r.value)
    assert got == latest  # nothing lost: the latest record of every key is there


def test_swap_in_renames_log_last(tmp_path):
    seg = tmp_path
    for suffix in (".log", ".index", ".timeindex"):
        (seg / f"{0:020d}{suffix}").write_bytes(b"old")
        (seg / f"{0:020d}{suffix}.cleaned").write_bytes(b"new")
    seen = []
    swap_in(seg, 0, after_step=lambda: seen.append(sorted(os.listdir(seg))))
    assert any(n.endswith(".log.swap") for n in seen[2])
    assert not any(n.endswith(".log.swap") for n in seen[1])
    assert (seg / f"{0:020d}.log").read_bytes() == b"new"


def test_store_check_accepts_a_cleaned_log_and_repairs_a_cut_swap(data_dir):
    store, log = _store(data_dir)
    _produce(log, _updates(50, 5))
    store.compact_topic("users")
    assert store.check("users").problems == []  # cleaned batches and gaps are no damage
    _produce(log, _updates(30, 3))

    class Cut(Exception):
        pass

    def cut():
        raise Cut

    with pytest.raises(Cut):
        LogCleaner(data_dir).clean(log, after_step=cut)
    fresh = Store(data_dir)
    found = fresh.check("users")
    assert any(p.file.endswith(".swap") for p in found.problems), found.problems
    assert fresh.check("users", repair=True).ok
    assert fresh.check("users").problems == []
    assert not [n for n in os.listdir(log.directory) if n.endswith((".cleaned", ".swap"))]


def test_a_reader_with_files_open_sees_the_swapped_segments(data_dir):
    store, log = _store(data_dir)
    _produce(log, _updates(50, 5))
    reader = Store(data_dir).log("users", 0)  # another process's view, its files held open
    assert len(_all(reader)) == 50
    store.compact_topic("users")
    fresh = Store(data_dir).log("users", 0)
    for view in (reader, log):  # the cleaning process's own Log held the old files too
        assert [(r.offset, r.value) for r in _all(view)] == [
            (r.offset, r.value) for r in _all(fresh)
        ]
    assert len(_all(reader)) < 50


@pytest.mark.parametrize("codec", [1, 2, 3, 4], ids=["gzip", "snappy", "lz4", "zstd"])
def test_rewritten_batches_keep_their_compression(data_dir, codec):
    """Kafka's cleaner compresses a rewritten batch again with the batch's codec."""
    from storage.record_batch import compress_batch, read_header

    store, log = _store(data_dir)
    for n in range(8):
        pairs = [(f"k{i}".encode(), f"v{n}-{i}".encode() * 8) for i in range(n % 3, 3)]
        batch = encode_batch([ProducerRecord(v, key=k) for k, v in pairs], timestamp=n)
        log.append(compress_batch(batch, codec))
    for n in range(8):  # later batches of other keys, so the ones above are in closed segments
        filler = [ProducerRecord(b"x" * 300, key=f"other-{n}".encode())]
        log.append(compress_batch(encode_batch(filler, timestamp=n), codec))
    expected = {r.key: (r.offset, r.value) for r in _all(log)}
    store.compact_topic("users")
    rewritten = 0
    seen = []
    for seg in log.segments():
        data = seg.path.read_bytes()
        pos = 0
        while pos < len(data):
            h = read_header(data, pos)
            assert h.attributes & 0x07 == codec
            rewritten += h.records_count < h.last_offset_delta + 1
            pos += h.size
        if codec == 1:  # an independent decoder: kafka-python (its other codecs need extras)
            records = MemoryRecords(data)
            while records.has_next():
                seen += [(r.key, (r.offset, r.value)) for r in records.next_batch()]
    assert rewritten > 0
    cleaned = [(r.key, (r.offset, r.value)) for r in _all(log)]
    assert dict(cleaned) == expected and len(cleaned) == len(expected)
    assert seen == (cleaned if codec == 1 else [])
