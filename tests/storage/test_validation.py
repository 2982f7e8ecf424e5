"""Every batch appended is validated record by record, as Kafka's LogValidator does: an
invalid one is refused whole, naming the batch, and nothing of the call is written; anything
accepted reads back exactly as an independent decoder reads the bytes that were sent."""

from __future__ import annotations

import gzip
import struct

import pytest
from batch_mutations import (
    BASE_TS,
    build_batch,
    fix_length_and_crc,
    mutated_batches,
    reference_records,
)
from hypothesis import HealthCheck, given, settings

from storage import CorruptRecord, InvalidRecord, ProducerRecord, Store, encode_batch
from storage.record_decode import uniform_shape
from storage.records import decode_batch, zigzag_varint


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "data")
    yield s
    s.close()


def _files(log_dir):
    return {p.name: p.read_bytes() for p in sorted(log_dir.iterdir()) if p.name != ".lock"}


def _good(n=3, **kw):
    return encode_batch([b"v%d" % i for i in range(n)], timestamp=BASE_TS, **kw)


def _record(offset_delta: int, value: bytes, *, ts_delta: int = 0, extra: bytes = b"") -> bytes:
    body = (
        b"\x00"
        + zigzag_varint(ts_delta)
        + zigzag_varint(offset_delta)
        + zigzag_varint(-1)
        + zigzag_varint(len(value))
        + value
        + b"\x00"
        + extra
    )
    return zigzag_varint(len(body)) + body


def _batch_of(records: bytes, count: int, last_delta: int | None = None, **header) -> bytes:
    """A batch around hand-made record bytes, with a valid CRC and length."""
    batch = bytearray(encode_batch([b"x"], timestamp=BASE_TS))[:61] + records
    struct.pack_into(">i", batch, 23, count - 1 if last_delta is None else last_delta)
    struct.pack_into(">i", batch, 57, count)
    for pos, fmt, value in header.values():
        struct.pack_into(fmt, batch, pos, value)
    return fix_length_and_crc(batch)


CASES = {
    # what the issue measured over the wire: a header claiming 1000 records that holds 1
    "count_claims_more": (_batch_of(_record(0, b"a"), 1000, 999), "recordsCount"),
    "count_mismatch_delta": (_batch_of(_record(0, b"a"), 1, 5), "lastOffsetDelta"),
    "duplicate_deltas": (_batch_of(_record(0, b"a") + _record(0, b"b"), 2), "offsetDelta 0"),
    "out_of_order_deltas": (_batch_of(_record(1, b"a") + _record(0, b"b"), 2), "offsetDelta 1"),
    "delta_past_last": (_batch_of(_record(0, b"a") + _record(7, b"b"), 2), "offsetDelta 7"),
    "length_overruns": (_batch_of(b"\x7e" + _record(0, b"a")[1:], 1), "past the end"),
    "trailing_bytes": (_batch_of(_record(0, b"a") + b"\x00\x00", 1), "follow the last"),
    "fields_exceed_length": (
        _batch_of(_record(0, b"a", extra=b"\x02")[:-1] + b"\x00\x00", 1),
        "record 0",
    ),
    "varint_too_long": (
        _batch_of(b"\xff" * 11 + _record(0, b"a"), 1),
        "varint longer",
    ),
    "unknown_codec": (
        _batch_of(_record(0, b"a"), 1, attributes=(21, ">h", 6)),
        "compression codec 6",
    ),
    "control_batch": (
        _batch_of(_record(0, b"a"), 1, attributes=(21, ">h", 0x20)),
        "control batches",
    ),
    "max_timestamp_wrong": (
        _batch_of(_record(0, b"a", ts_delta=5), 1, max_ts=(35, ">q", BASE_TS)),
        "maxTimestamp",
    ),
    "null_header_key": (
        _batch_of(zigzag_varint(7) + b"\x00\x00\x00\x01\x00\x02\x01", 1),
        "null key",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_invalid_batch_is_refused_whole_naming_it(store, case):
    batch, needle = CASES[case]
    store.create_topic("t", 1)
    log = store.log("t", 0)
    log.append(_good())
    before = _files(store.partition_dir("t", 0))
    with pytest.raises(CorruptRecord) as err:
        log.append([_good(), batch])  # the good batch before it is not written either
    message = str(err.value)
    assert "batch 1 for t-0" in message and needle in message, message
    assert _files(store.partition_dir("t", 0)) == before
    assert log.log_end_offset == 3
    assert [r.value for r in log.read_records(0)] == [b"v0", b"v1", b"v2"]


def test_record_level_problems_are_invalid_record_and_framing_is_corrupt(store):
    store.create_topic("t", 1)
    log = store.log("t", 0)
    with pytest.raises(InvalidRecord):
        log.append(CASES["duplicate_deltas"][0])
    damaged = bytearray(_good())
    damaged[-1] ^= 1
    with pytest.raises(CorruptRecord) as err:
        log.append(bytes(damaged))
    assert not isinstance(err.value, InvalidRecord) and "CRC-32C" in str(err.value)


def test_compressed_batches_must_decompress(store):
    store.create_topic("t", 1)
    log = store.log("t", 0)
    garbage = bytearray(_good()[:61]) + b"\x1f\x8b" + b"\x00" * 20
    struct.pack_into(">h", garbage, 21, 1)  # gzip
    with pytest.raises(CorruptRecord, match="cannot be decompressed"):
        log.append(fix_length_and_crc(garbage))
    # a gzip body holding one record too many for its header
    body = _record(0, b"a") + _record(1, b"b")
    lying = bytearray(_good(1)[:61]) + gzip.compress(body)
    struct.pack_into(">h", lying, 21, 1)
    with pytest.raises(InvalidRecord, match="follow the last"):
        log.append(fix_length_and_crc(lying))
    assert log.log_end_offset == 0


def test_header_keys_must_be_utf8(store):
    store.create_topic("t", 1)
    record_body = b"\x00\x00\x00\x01\x00\x02" + zigzag_varint(2) + b"\xff\xfe" + b"\x01"
    batch = _batch_of(zigzag_varint(len(record_body)) + record_body, 1)
    with pytest.raises(InvalidRecord, match="not UTF-8"):
        store.log("t", 0).append(batch)


def test_what_every_producer_writes_is_accepted(store):
    store.create_topic("t", 1)
    log = store.log("t", 0)
    records = [ProducerRecord(b"v", b"k", (("h", b"1"),), BASE_TS + i) for i in range(5)]
    log.append(encode_batch(records, timestamp=BASE_TS))
    log.append(build_batch([(b"k", b"v", [("h", b"x")], 3), (None, None, [], -2)]))
    log.append(build_batch([(b"k", b"v" * 100, [], 0)] * 50, compression=1))
    log.append_records([b"a", b"bb", b"ccc"])
    assert log.log_end_offset == 5 + 2 + 50 + 3


def test_the_fast_path_checks_what_the_general_walk_checks():
    """A periodic batch is checked column by column; one byte off anywhere makes it
    non-uniform, so the general walk judges it."""
    batch = encode_batch([b"%03d" % i for i in range(200)], timestamp=BASE_TS)
    assert uniform_shape(batch, 61, len(batch), 200) is not None
    for pos in range(61, len(batch), 7):
        changed = bytearray(batch)
        changed[pos] ^= 0x40
        shape = uniform_shape(changed, 61, len(changed), 200)
        if shape is not None:  # only a key or value byte changed: still the same shape
            assert [r.value for r in decode_batch(bytes(changed))] != [
                r.value for r in decode_batch(batch)
            ]


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=mutated_batches())
def test_a_mutated_batch_is_refused_or_reads_back_exactly(store, batch):
    if not store.topic_exists("fuzz"):
        store.create_topic("fuzz", 1)
    log = store.log("fuzz", 0)
    start = log.log_end_offset
    try:
        info = log.append(batch)
    except CorruptRecord:
        assert log.log_end_offset == start
        return
    expected = reference_records(batch)
    got = log.read_records(info.base_offset, max_records=len(expected) + 1)
    assert [(r.offset - info.base_offset, r.timestamp, r.key, r.value, r.headers) for r in got] == [
        (delta, ts, key, value, headers) for delta, ts, key, value, headers in expected
    ]
    assert info.last_offset == info.base_offset + len(expected) - 1
    log.check()
