"""RecordBatch v2: our codec against itself, against kafka-python, and against damage."""

from __future__ import annotations

import struct

import pytest
from batch_mutations import BASE_TS, build_batch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka.record import MemoryRecords

from storage.errors import CorruptRecord, StorageError
from storage.record_decode import _decode_records
from storage.records import (
    ProducerRecord,
    Record,
    decode_batch,
    decode_batch_at,
    decode_batches,
    encode_batch,
    read_header,
    split_batches,
    validate_batch,
)

header_keys = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=12)
headers = st.lists(st.tuples(header_keys, st.none() | st.binary(max_size=20)), max_size=3).map(
    tuple
)
producer_records = st.builds(
    ProducerRecord,
    value=st.none() | st.binary(max_size=300),
    key=st.none() | st.binary(max_size=40),
    headers=headers,
    timestamp=st.none() | st.integers(BASE_TS - 10**9, BASE_TS + 10**9),
)


def expected(records, timestamp=BASE_TS, base_offset=0):
    return [
        Record(
            base_offset + i,
            timestamp if r.timestamp is None else r.timestamp,
            r.key,
            r.value,
            tuple(r.headers),
        )
        for i, r in enumerate(records)
    ]


def kafka_python_records(data: bytes):
    """Every record of concatenated batches, as kafka-python's reader sees it."""
    out = []
    memory = MemoryRecords(bytes(data))
    while True:
        batch = memory.next_batch()
        if batch is None:
            return out
        assert batch.validate_crc()
        for r in batch:
            out.append(
                Record(r.offset, r.timestamp, r.key, r.value, tuple(tuple(h) for h in r.headers))
            )


@given(st.lists(producer_records, min_size=1, max_size=60))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_round_trip_any_records(records):
    batch = encode_batch(records, timestamp=BASE_TS)
    assert decode_batch(batch) == expected(records)
    assert kafka_python_records(batch) == expected(records)
    header = validate_batch(batch)
    assert header.records_count == len(records)
    assert header.last_offset_delta == len(records) - 1
    timestamps = [BASE_TS if r.timestamp is None else r.timestamp for r in records]
    assert header.max_timestamp == max(max(timestamps), header.base_timestamp)


@given(
    st.integers(1, 300),
    st.none() | st.integers(0, 30),
    st.integers(0, 400),
    st.integers(0, 400),
    st.integers(1, 400),
)
@settings(max_examples=200)
def test_uniform_batches_decode_like_the_general_decoder(
    count, key_len, value_len, first, max_records
):
    # One shape for every record: the case the strided fast path handles.
    records = [
        ProducerRecord(
            bytes([i % 251]) * value_len,
            key=None if key_len is None else bytes([(i * 7) % 251]) * key_len,
        )
        for i in range(count)
    ]
    batch = encode_batch(records, timestamp=BASE_TS, base_offset=1000)
    want = expected(records, base_offset=1000)
    assert decode_batch(batch) == want
    assert kafka_python_records(batch) == want
    sliced = decode_batch(batch, min_offset=1000 + first, max_records=max_records)
    assert sliced == want[first : first + max_records]
    last = min(count, first + max_records)
    assert sliced == _decode_records(batch, 61, len(batch), 1000, BASE_TS, -1, first, last)


@given(st.data())
@settings(max_examples=200)
def test_nearly_uniform_batches_are_not_mistaken_for_uniform(data):
    count = data.draw(st.integers(2, 150))
    value_len = data.draw(st.integers(0, 60))
    records = [ProducerRecord(b"v" * value_len) for _ in range(count)]
    odd = data.draw(st.integers(0, count - 1))
    change = data.draw(st.sampled_from(["longer", "shorter", "key", "header", "timestamp"]))
    if change == "longer":
        records[odd] = ProducerRecord(b"w" * (value_len + 1))
    elif change == "shorter" and value_len:
        records[odd] = ProducerRecord(b"w" * (value_len - 1))
    elif change == "key":
        records[odd] = ProducerRecord(b"v" * value_len, key=b"k")
    elif change == "header":
        records[odd] = ProducerRecord(b"v" * value_len, headers=(("h", b"1"),))
    elif change == "timestamp":
        records[odd] = ProducerRecord(b"v" * value_len, timestamp=BASE_TS + 5)
    batch = encode_batch(records, timestamp=BASE_TS)
    assert decode_batch(batch) == expected(records)
    assert kafka_python_records(batch) == expected(records)


def test_plain_values_are_records_with_a_value_only():
    for values in ([b"a" * 10] * 5, [b"x", b"yy", b""], [b"v"] * 20_000):
        as_records = encode_batch([ProducerRecord(v) for v in values], timestamp=BASE_TS)
        assert encode_batch(values, timestamp=BASE_TS) == as_records
    mixed = [b"plain", ProducerRecord(b"full", key=b"k"), bytearray(b"ba")]
    assert decode_batch(encode_batch(mixed, timestamp=BASE_TS)) == [
        Record(0, BASE_TS, None, b"plain", ()),
        Record(1, BASE_TS, b"k", b"full", ()),
        Record(2, BASE_TS, None, b"ba", ()),
    ]


def test_big_values_and_many_records():
    big = [ProducerRecord(bytes(range(256)) * 300, key=b"k" * 20000), ProducerRecord(None)]
    batch = encode_batch(big, timestamp=BASE_TS)
    assert decode_batch(batch) == expected(big)
    assert kafka_python_records(batch) == expected(big)
    # Past 8192 (the fast path's limit) and 16384 (the varint table's size).
    many = [ProducerRecord(b"%d" % i) for i in range(20_000)]
    batch = encode_batch(many, timestamp=BASE_TS)
    assert decode_batch(batch) == expected(many)
    assert decode_batch(batch, min_offset=19_990, max_records=5) == expected(many)[19_990:19_995]
    same = [ProducerRecord(b"x" * 10)] * 20_000
    batch = encode_batch(same, timestamp=BASE_TS)
    assert decode_batch(batch) == expected(same)
    assert kafka_python_records(batch)[-1] == expected(same)[-1]


def test_producer_fields_and_decode_batches():
    a = encode_batch(
        [ProducerRecord(b"a")] * 3,
        timestamp=BASE_TS,
        producer_id=77,
        producer_epoch=3,
        base_sequence=10,
        base_offset=5,
    )
    b = encode_batch([ProducerRecord(b"b", key=b"k")], timestamp=BASE_TS + 1, base_offset=8)
    header = read_header(a)
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (77, 3, 10)
    batch = MemoryRecords(a).next_batch()
    assert (batch.producer_id, batch.producer_epoch, batch.base_sequence) == (77, 3, 10)
    assert [r.offset for r in decode_batches(a + b)] == [5, 6, 7, 8]
    assert [r.offset for r in decode_batches(a + b, min_offset=7)] == [7, 8]
    assert [bytes(v) for v in split_batches(a + b)] == [a, b]
    assert decode_batch_at(a + b, len(a), len(b)) == [Record(8, BASE_TS + 1, b"k", b"b", ())]


@pytest.mark.parametrize("compression", [0, 1])  # none, gzip
def test_kafka_python_built_batches_decode(compression):
    records = []
    want = []
    for i in range(50):
        key = None if i % 3 else b"key-%d" % i
        value = None if i == 7 else b"value-%d" % i * 20
        hdrs = [("h", b"%d" % i)] if i % 2 else []
        records.append((key, value, hdrs, i))
        want.append(Record(i, BASE_TS + i, key, value, tuple(hdrs)))
    batch = build_batch(records, compression)
    assert (read_header(batch).attributes & 7) == compression
    assert decode_batch(batch) == want
    assert decode_batch(batch, min_offset=10, max_records=2) == want[10:12]


def test_validate_batch_names_what_is_wrong():
    batch = encode_batch([ProducerRecord(b"abc")], timestamp=BASE_TS)
    with pytest.raises(CorruptRecord, match="shorter than a batch header"):
        validate_batch(batch[:30])
    with pytest.raises(CorruptRecord, match="batchLength says"):
        validate_batch(batch + b"\x00")
    damaged = bytearray(batch)
    damaged[-2] ^= 0xFF
    with pytest.raises(CorruptRecord, match="CRC-32C mismatch"):
        validate_batch(damaged)
    old_magic = bytearray(batch)
    old_magic[16] = 1
    with pytest.raises(CorruptRecord, match="magic byte is 1"):
        validate_batch(old_magic)
    with pytest.raises(StorageError):
        encode_batch([], timestamp=BASE_TS)


@given(st.binary(min_size=1, max_size=40), st.integers(61, 400), st.integers(0, 255))
@settings(max_examples=300)
def test_damaged_records_raise_corrupt_record_never_anything_else(payload, where, byte):
    records = [ProducerRecord(payload * 3, key=payload, headers=(("h", payload),))] * 4
    batch = bytearray(encode_batch(records, timestamp=BASE_TS))
    batch[where % len(batch) if where < len(batch) else len(batch) - 1] = byte
    try:
        out = decode_batch(bytes(batch))
    except StorageError:
        return
    assert all(isinstance(r, Record) for r in out)


def test_truncated_records_and_bad_compression_raise_corrupt_record():
    batch = encode_batch([ProducerRecord(b"x" * 50)] * 10, timestamp=BASE_TS)
    cut = bytearray(batch[:-30])
    struct.pack_into(">i", cut, 8, len(cut) - 12)
    with pytest.raises(CorruptRecord):
        decode_batch(bytes(cut))
    gzip_flagged = bytearray(batch)
    gzip_flagged[22] |= 1  # attributes: claims gzip
    with pytest.raises(CorruptRecord, match="cannot be decompressed"):
        decode_batch(bytes(gzip_flagged))


_RECORDS = st.lists(
    st.builds(
        ProducerRecord,
        st.one_of(st.none(), st.binary(max_size=300)),
        st.one_of(st.none(), st.binary(max_size=20)),
        st.just(()),
        st.one_of(st.none(), st.integers(0, 2**40)),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=_RECORDS, codec=st.sampled_from([0, 1, 2, 3, 4]))
def test_compressed_batches_decode_to_the_same_records(records, codec):
    from storage.records import compress_batch, validate_batch

    plain = encode_batch(records, timestamp=1_700_000_000_000)
    packed = compress_batch(plain, codec)
    header = validate_batch(packed)  # CRC and length recomputed
    assert header.attributes & 0x07 == codec
    unchanged = {"attributes": 0, "batch_length": 0, "crc": 0}
    assert read_header(packed)._replace(**unchanged) == read_header(plain)._replace(**unchanged)
    assert decode_batch(packed) == decode_batch(plain)
