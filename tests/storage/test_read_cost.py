"""A read at any offset costs the same in a long partition as in a short one.

Not timed (timings on a shared machine prove nothing): the test counts the work, every
``os.pread`` the engine makes and every byte it reads, for the same random point reads in a
partition of 10,000 records and in one of 1,000,000.  A lookup is a binary search of the
offset index plus a short scan, so only the binary search may grow, by a few 8-byte reads.
"""

from __future__ import annotations

import random

from storage import FakeClock, ProducerRecord, Store
from storage.records import encode_batch
from tests.storage.pread_counter import PreadCounter

RECORDS_PER_BATCH = 10
T0 = 1_700_000_000_000
READS = 300


def fill(store, topic, records):
    store.create_topic(topic, 1)
    log = store.log(topic, 0)
    # The log assigns offsets at append, so one encoded batch can be appended many times.
    now = store.clock.now_ms()
    batch = encode_batch([ProducerRecord(b"v" * 8)] * RECORDS_PER_BATCH, timestamp=now)
    batches = records // RECORDS_PER_BATCH
    for start in range(0, batches, 10_000):
        log.append([batch] * min(10_000, batches - start), fsync=False)
    log.flush()
    assert log.log_end_offset == records
    return log


def point_reads(log, counter, seed):
    rng = random.Random(seed)
    end = log.log_end_offset
    log.read_records(end - 1, 1)  # open descriptors, scan the active segment's tail
    calls, read = counter.calls, counter.bytes
    for _ in range(READS):
        offset = rng.randrange(end)
        assert [r.offset for r in log.read_records(offset, 1)] == [offset]
    return (counter.calls - calls) / READS, (counter.bytes - read) / READS


def test_point_read_work_does_not_grow_with_the_partition(data_dir, monkeypatch):
    store = Store(data_dir, clock=FakeClock())
    small = fill(store, "small", 10_000)
    large = fill(store, "large", 1_000_000)
    entries_small = len((small.directory / f"{0:020d}.index").read_bytes()) // 8
    entries_large = len((large.directory / f"{0:020d}.index").read_bytes()) // 8
    assert entries_large > 50 * entries_small  # the index really is 100x longer
    counter = PreadCounter(monkeypatch)
    calls_small, bytes_small = point_reads(small, counter, 1)
    calls_large, bytes_large = point_reads(large, counter, 2)
    # The binary search over 100x the entries takes about log2(100) ~ 7 more 8-byte reads.
    assert calls_large <= calls_small + 9, (calls_small, calls_large)
    assert bytes_large <= bytes_small * 1.2 + 9 * 8, (bytes_small, bytes_large)


def test_offset_for_time_work_does_not_grow_with_the_partition(data_dir, monkeypatch):
    clock = FakeClock(T0)
    store = Store(data_dir, clock=clock)
    costs = []
    for topic, batches in (("small", 500), ("large", 50_000)):
        store.create_topic(topic, 1)
        log = store.log(topic, 0)
        for start in range(0, batches, 1000):
            group = [
                encode_batch([ProducerRecord(b"v" * 8)] * 5, timestamp=T0 + 10 * b)
                for b in range(start, start + 1000 if start + 1000 <= batches else batches)
            ]
            log.append(group, fsync=False)
        log.offset_for_time(0)
        counter = PreadCounter(monkeypatch)
        rng = random.Random(3)
        for _ in range(100):
            b = rng.randrange(batches)
            assert log.offset_for_time(T0 + 10 * b) == 5 * b
        costs.append((counter.calls, counter.bytes))
        monkeypatch.undo()
    (calls_small, bytes_small), (calls_large, bytes_large) = costs
    # Two binary searches (time index, offset index) over 100x the entries.
    assert calls_large <= calls_small + 100 * 2 * 8, costs
    assert bytes_large <= bytes_small * 1.2 + 100 * 2 * 8 * 12, costs
