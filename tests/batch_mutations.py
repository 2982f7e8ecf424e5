"""Valid batches and mutations of them, for the validation fuzz tests (API and wire).

A mutation changes a valid batch's bytes, then (usually) fixes batchLength and the CRC, so
that what is left to catch is exactly what a CRC cannot: records that contradict their
header or are malformed.  ``reference_records`` decodes a batch with kafka-python's codec,
an implementation independent of the store's.
"""

from __future__ import annotations

import struct

from hypothesis import strategies as st
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

from storage.records import compute_crc

BASE_TS = 1_700_000_000_000

record_st = st.tuples(
    st.none() | st.binary(max_size=12),  # key
    st.none() | st.binary(max_size=40),  # value
    st.lists(
        st.tuples(st.text(max_size=6), st.none() | st.binary(max_size=6)), max_size=2
    ),  # headers
    st.integers(min_value=-5000, max_value=5000),  # timestamp delta
)


def build_batch(records, compression: int = 0) -> bytes:
    """A valid batch written by kafka-python's builder (gzip when ``compression`` is 1)."""
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=compression,
        is_transactional=False,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1 << 20,
    )
    for i, (key, value, headers, delta) in enumerate(records):
        builder.append(i, timestamp=BASE_TS + delta, key=key, value=value, headers=list(headers))
    return bytes(builder.build())


def fix_length_and_crc(batch: bytearray) -> bytes:
    struct.pack_into(">i", batch, 8, len(batch) - 12)
    struct.pack_into(">I", batch, 17, compute_crc(batch))
    return bytes(batch)


@st.composite
def mutated_batches(draw) -> bytes:
    """A valid batch with one or two mutations; CRC and length fixed 9 times in 10."""
    records = draw(st.lists(record_st, min_size=1, max_size=6))
    compression = draw(st.sampled_from([0, 0, 0, 1]))
    batch = bytearray(build_batch(records, compression))
    for _ in range(draw(st.integers(1, 2))):
        kind = draw(
            st.sampled_from(["flip", "insert", "delete", "header_int", "attributes", "set"])
        )
        end = len(batch)
        if kind == "flip" and end > 61:
            pos = draw(st.integers(61, end - 1))
            batch[pos] ^= draw(st.integers(1, 255))
        elif kind == "set" and end > 61:
            pos = draw(st.integers(61, end - 1))
            batch[pos] = draw(st.sampled_from([0x00, 0x01, 0x7F, 0x80, 0xFF, 0x02, 0x0C]))
        elif kind == "insert":
            pos = draw(st.integers(61, end))
            batch[pos:pos] = draw(st.binary(min_size=1, max_size=4))
        elif kind == "delete" and end > 62:
            pos = draw(st.integers(61, end - 1))
            del batch[pos : pos + draw(st.integers(1, 4))]
        elif kind == "header_int":
            # recordsCount, lastOffsetDelta, baseTimestamp or maxTimestamp
            field, fmt = draw(st.sampled_from([(57, ">i"), (23, ">i"), (27, ">q"), (35, ">q")]))
            (value,) = struct.unpack_from(fmt, batch, field)
            value += draw(st.sampled_from([-1, 1, 999, -(2**31), 2**31 - 1 - value]))
            lo, hi = (-(2**31), 2**31 - 1) if fmt == ">i" else (-(2**63), 2**63 - 1)
            struct.pack_into(fmt, batch, field, max(lo, min(hi, value)))
        elif kind == "attributes":
            struct.pack_into(">h", batch, 21, draw(st.sampled_from([0, 1, 5, 7, 8, 0x20, 0x10])))
    if draw(st.integers(0, 9)):
        return fix_length_and_crc(batch)
    return bytes(batch)


def reference_records(batch: bytes) -> list[tuple]:
    """(offset delta, timestamp, key, value, headers) of every record, by kafka-python."""
    parsed = DefaultRecordBatch(batch)
    out = []
    for r in parsed:
        headers = tuple((k, None if v is None else bytes(v)) for k, v in r.headers)
        out.append(
            (
                r.offset,
                r.timestamp,
                None if r.key is None else bytes(r.key),
                None if r.value is None else bytes(r.value),
                headers,
            )
        )
    return out
