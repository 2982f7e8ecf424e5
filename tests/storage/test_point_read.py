"""Point reads (``Log.read_records(offset, n)`` with a small n) read only the bytes of the
records asked for once a batch has been read, and return exactly what a full decode returns:
uniform batches, batches of mixed shapes (keys, headers, null values), compressed batches and
offsets across segments.  A damaged batch is still refused on its first read.

Not timed: the work is counted as every ``os.pread`` and every byte the engine reads.
"""

from __future__ import annotations

import pytest

from storage import FakeClock, ProducerRecord, Store
from storage.errors import CorruptRecord
from storage.record_batch import compress_batch
from storage.records import decode_batches, encode_batch
from tests.storage.pread_counter import PreadCounter

T0 = 1_700_000_000_000


def open_log(data_dir, **config):
    store = Store(data_dir, clock=FakeClock(T0))
    store.create_topic("t", 1, {k.replace("_", "."): str(v) for k, v in config.items()})
    return store, store.log("t", 0)


def mixed(n):
    """Records of varying shapes, so no batch is uniform."""
    out = []
    for i in range(n):
        key = None if i % 3 == 0 else b"k%d" % i
        value = None if i % 7 == 0 else b"v%d-" % i + b"x" * (i % 150)
        headers = (("h", b"%d" % i),) if i % 5 == 0 else ()
        out.append(ProducerRecord(value, key, headers, T0 + i))
    return out


def every_record(log):
    return decode_batches(log.read(0, 1 << 30).records)


def test_point_reads_equal_the_full_decode(data_dir):
    _, log = open_log(data_dir, segment_bytes=20_000, index_interval_bytes=500)
    log.append_records([b"%06d" % i + b"u" * 94 for i in range(700)], fsync=False, batch_records=90)
    log.append_records(mixed(700), fsync=False, batch_records=90)
    log.append(
        [compress_batch(encode_batch(mixed(50), timestamp=T0), codec) for codec in (1, 2, 3, 4)],
        fsync=False,
    )
    expected = every_record(log)
    assert len(expected) == 1600 and len(log.segments()) > 5
    for record in expected:
        assert log.read_records(record.offset, 1) == [record]
    for start in range(0, 1600, 37):  # spans that cross batch and segment boundaries
        assert log.read_records(start, 40) == expected[start : start + 40]
    assert log.read_records(1600, 1) == []


@pytest.mark.parametrize("shape", ["uniform", "mixed"])
def test_a_point_read_reads_the_record_not_the_batch(data_dir, monkeypatch, shape):
    _, log = open_log(data_dir)
    records = [b"%06d" % i + b"u" * 94 for i in range(1000)] if shape == "uniform" else mixed(1000)
    log.append_records(records, fsync=False, batch_records=1000)
    batch_bytes = log.segments()[0].size_bytes
    assert batch_bytes > 50_000  # one batch of 1000 records
    log.read_records(500, 1)  # the batch's first read checks its CRC: all of it is read
    counter = PreadCounter(monkeypatch)
    for offset in range(0, 1000, 10):
        (record,) = log.read_records(offset, 1)
        assert record.offset == offset
    # A header and a record per read (a record is at most ~300 bytes here).
    assert counter.calls <= 2 * 100, counter.calls
    assert counter.bytes <= 100 * (61 + 300), counter.bytes


def test_a_damaged_batch_is_refused_on_its_first_point_read(data_dir):
    store, log = open_log(data_dir)
    log.append_records([b"%06d" % i + b"u" * 94 for i in range(1000)], batch_records=1000)
    store.close()
    path = log.directory / f"{0:020d}.log"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # a value byte: the header still looks right
    path.write_bytes(bytes(data))
    log = Store(data_dir).log("t", 0)  # a new process's view
    with pytest.raises(CorruptRecord, match="CRC"):
        log.read_records(10, 1)
