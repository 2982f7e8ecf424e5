"""Kafka's partitioner over whole Arrow columns: murmur2 of every key in Arrow kernels.

The sink places a keyed row where Kafka's Java producer would: ``(murmur2(key) & 0x7fffffff)
% partitions`` (see ``storage.partitioner``).  The pure-Python murmur2 costs several
microseconds a key, more than everything else the sink does with a row, so here the same
arithmetic runs over all keys of one length at once, with pyarrow.compute's wrapping uint32
operations standing in for Java's int arithmetic.  ``tests/spark/test_partitioning.py`` checks
it against ``storage.partitioner.partition_for_key``.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

_M = 0x5BD1E995
_SEED = 0x9747B28C


def _u32(value: int) -> pa.Scalar:
    return pa.scalar(value & 0xFFFFFFFF, pa.uint32())


def _times_m(h: pa.Array) -> pa.Array:
    return pc.multiply(h, _u32(_M))  # "multiply" wraps modulo 2**32 on uint32, as Java's int


def _xor_shift(h: pa.Array, bits: int) -> pa.Array:
    return pc.bit_wise_xor(h, pc.shift_right(h, _u32(bits)))


def _raw_bytes(keys: pa.Array) -> pa.Array:
    """The bytes of a binary array's values, back to back, as a uint8 array."""
    _validity, offsets, data = keys.buffers()
    first = pa.Array.from_buffers(pa.int32(), 1, [None, offsets], offset=keys.offset)[0].as_py()
    last = pa.Array.from_buffers(pa.int32(), 1, [None, offsets], offset=keys.offset + len(keys))
    size = last[0].as_py() - first
    return pa.Array.from_buffers(pa.uint8(), size, [None, data], offset=first)


def murmur2_same_length(keys: pa.Array, length: int) -> pa.Array:
    """Kafka's murmur2, as uint32, of binary keys without nulls, all ``length`` bytes long."""
    count = len(keys)
    data = _raw_bytes(keys)
    starts = pc.multiply(pa.array(range(count), pa.int64()), pa.scalar(length, pa.int64()))

    def byte(j: int, shift: int = 0) -> pa.Array:
        b = pc.cast(pc.take(data, pc.add(starts, pa.scalar(j, pa.int64()))), pa.uint32())
        return pc.shift_left(b, _u32(shift)) if shift else b

    h = pa.array([(_SEED ^ length) & 0xFFFFFFFF] * count, pa.uint32())
    for i in range(0, length - length % 4, 4):
        k = pc.bit_wise_or(
            pc.bit_wise_or(byte(i), byte(i + 1, 8)),
            pc.bit_wise_or(byte(i + 2, 16), byte(i + 3, 24)),
        )
        k = _times_m(_xor_shift(_times_m(k), 24))
        h = pc.bit_wise_xor(_times_m(h), k)
    tail = length - length % 4
    if length % 4 == 3:
        h = pc.bit_wise_xor(h, byte(tail + 2, 16))
    if length % 4 >= 2:
        h = pc.bit_wise_xor(h, byte(tail + 1, 8))
    if length % 4 >= 1:
        h = _times_m(pc.bit_wise_xor(h, byte(tail)))
    return _xor_shift(_times_m(_xor_shift(h, 13)), 15)


def partitions_for_keys(keys: pa.Array, num_partitions: int) -> pa.Array:
    """The partition (int64) of each key; null where the key is null."""
    keys = pc.cast(keys, pa.binary())
    valid = pc.is_valid(keys)
    if keys.null_count == len(keys):
        return pa.nulls(len(keys), pa.int64())
    lengths = pc.binary_length(keys)
    rows, parts = [], []
    n = pa.scalar(num_partitions, pa.int64())
    for length in pc.unique(pc.drop_null(lengths)).to_pylist():
        where = pc.indices_nonzero(pc.equal(lengths, pa.scalar(length, lengths.type)))
        hashes = murmur2_same_length(pc.take(keys, where), length)
        positive = pc.cast(pc.bit_wise_and(hashes, _u32(0x7FFFFFFF)), pa.int64())
        parts.append(pc.subtract(positive, pc.multiply(pc.divide(positive, n), n)))
        rows.append(where)
    # Each length's rows are ascending; merged, they are put back into row order.
    order = pc.sort_indices(pa.concat_arrays(rows))
    in_row_order = pc.take(pa.concat_arrays(parts), order)
    return pc.replace_with_mask(pa.nulls(len(keys), pa.int64()), valid, in_row_order)
