"""Decoding RecordBatch v2 records, the hot path of every consume (see ``storage.records``
for the layout).  Records are decoded with inline one- and two-byte varint fast paths; the
most common batch, records of one shape, is checked column by column with strided slices and
then cut by arithmetic (``_decode_uniform``); both give exactly the records of the general
code.
"""

from __future__ import annotations

import contextlib
import gc
import struct
from collections.abc import Iterator
from itertools import repeat
from operator import itemgetter
from typing import NamedTuple

from storage.compression import decompress as _decompress
from storage.constants import (
    BATCH_HEADER_SIZE,
    COMPRESSION_MASK,
    CONTROL_MASK,
    LOG_OVERHEAD,
    TIMESTAMP_TYPE_MASK,
)
from storage.errors import CorruptRecord
from storage.record_batch import HEADER, Record, read_header
from storage.varint import (
    G0 as _G0,
)
from storage.varint import (
    G0_MORE as _G0_MORE,
)
from storage.varint import (
    G1 as _G1,
)
from storage.varint import (
    decode_varint,
    zigzag_varint,
)

_LENGTH = struct.Struct(">i")
_FIRST = itemgetter(0)
_SECOND = itemgetter(1)


@contextlib.contextmanager
def cycle_collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector while a fetch's batches are decoded.

    Decoding makes thousands of Record tuples at once and keeps them, so each fetch sets off
    a dozen young-generation collections and, every few fetches, a full one that walks every
    object the process holds: with a million other objects alive, a full scan ran at 0.6x
    the pace it had without them (sqlite3's rows, made and freed one at a time, set off
    none).  The decoder creates no reference cycles, so nothing is left for the collector
    that it would have found during the pause; collection resumes as before afterwards.  A
    collector already paused by someone else is left paused.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def decode_batch(batch, *, min_offset: int = 0, max_records: int | None = None) -> list[Record]:
    """Decode the records of one batch (header included in ``batch``).

    Records below ``min_offset`` are skipped without building them; decoding stops after
    ``max_records`` records.  Control batches (transaction markers) hold no user records and
    decode to an empty list.  The CRC is not checked here: the log checks it when it reads.
    """
    buf = batch if isinstance(batch, bytes) else bytes(batch)
    return decode_batch_at(buf, 0, len(buf), min_offset=min_offset, max_records=max_records)


def decode_batches(data, *, min_offset: int = 0) -> list[Record]:
    """Decode concatenated batches (what ``Log.read`` returns) without copying each one."""
    buf = data if isinstance(data, bytes) else bytes(data)
    out: list[Record] = []
    pos = 0
    end = len(buf)
    while pos < end:
        if end - pos < BATCH_HEADER_SIZE:
            raise CorruptRecord(f"{end - pos} trailing bytes are not a whole batch")
        size = _LENGTH.unpack_from(buf, pos + 8)[0] + LOG_OVERHEAD
        out += decode_batch_at(buf, pos, size, min_offset=min_offset)
        pos += size
    return out


def decode_batch_at(
    buf: bytes, pos: int, size: int, *, min_offset: int = 0, max_records: int | None = None
) -> list[Record]:
    """Decode the batch of ``size`` bytes that starts at ``pos`` in ``buf``, without copying it."""
    if size < BATCH_HEADER_SIZE or pos + size > len(buf):
        raise CorruptRecord(
            f"a batch of {size} bytes at byte {pos} does not fit in {len(buf)} bytes"
        )
    (
        base_offset,
        _length,
        _epoch,
        _magic,
        _crc,
        attributes,
        last_offset_delta,
        base_ts,
        max_ts,
        _pid,
        _pepoch,
        _seq,
        count,
    ) = HEADER.unpack_from(buf, pos)
    if attributes & CONTROL_MASK or count <= 0:
        return []
    gapped = count != last_offset_delta + 1
    if gapped:
        # A compacted batch: its records keep their offsets, so record i is not offset
        # base + i.  Decode them all, then pick by offset.
        first, last = 0, count
    else:
        first = min_offset - base_offset if min_offset > base_offset else 0
        last = count if max_records is None or first + max_records > count else first + max_records
    if first >= last:
        return []
    codec = attributes & COMPRESSION_MASK
    if codec:
        buf = _decompress(codec, memoryview(buf)[pos + BATCH_HEADER_SIZE : pos + size])
        start = 0
        end = len(buf)
    else:
        start = pos + BATCH_HEADER_SIZE
        end = pos + size
    log_append_time = max_ts if attributes & TIMESTAMP_TYPE_MASK else -1
    if gapped:
        records = _decode_records(buf, start, end, base_offset, base_ts, log_append_time, 0, count)
        picked = [r for r in records if r[0] >= min_offset]
        return picked if max_records is None else picked[:max_records]
    if count <= _UNIFORM_MAX_RECORDS:
        records = _decode_uniform(
            buf, start, end, base_offset, base_ts, log_append_time, count, first, last
        )
        if records is not None:
            return records
    return _decode_records(buf, start, end, base_offset, base_ts, log_append_time, first, last)


def _decode_records(buf, pos, end, base_offset, base_ts, log_append_time, first, last):
    """The general decoder: any record shape, with inline one- and two-byte varint paths."""
    out: list[Record] = []
    append = out.append
    new = tuple.__new__  # skips NamedTuple's Python-level __new__: 3x cheaper per record
    min_offset = base_offset + first
    try:
        for _ in range(last):
            # length
            b = buf[pos]
            if b < 0x80:
                length = (b >> 1) ^ -(b & 1)
                pos += 1
            elif buf[pos + 1] < 0x80:
                z = (b & 0x7F) | (buf[pos + 1] << 7)
                length = (z >> 1) ^ -(z & 1)
                pos += 2
            else:
                length, pos = decode_varint(buf, pos)
            record_end = pos + length
            if record_end > end or length < 0:
                raise IndexError
            # attributes (1 byte), then timestampDelta
            pos += 1
            b = buf[pos]
            if b < 0x80:
                ts_delta = (b >> 1) ^ -(b & 1)
                pos += 1
            else:
                ts_delta, pos = decode_varint(buf, pos)
            b = buf[pos]
            if b < 0x80:
                offset_delta = (b >> 1) ^ -(b & 1)
                pos += 1
            elif buf[pos + 1] < 0x80:  # offset deltas 64..8191: records past the 64th
                z = (b & 0x7F) | (buf[pos + 1] << 7)
                offset_delta = (z >> 1) ^ -(z & 1)
                pos += 2
            else:
                offset_delta, pos = decode_varint(buf, pos)
            offset = base_offset + offset_delta
            if offset < min_offset:
                pos = record_end
                continue
            b = buf[pos]
            if b < 0x80:
                kl = (b >> 1) ^ -(b & 1)
                pos += 1
            elif buf[pos + 1] < 0x80:
                z = (b & 0x7F) | (buf[pos + 1] << 7)
                kl = (z >> 1) ^ -(z & 1)
                pos += 2
            else:
                kl, pos = decode_varint(buf, pos)
            if kl < 0:
                key = None
            else:
                key = buf[pos : pos + kl]
                pos += kl
            b = buf[pos]
            if b < 0x80:
                vl = (b >> 1) ^ -(b & 1)
                pos += 1
            elif buf[pos + 1] < 0x80:
                z = (b & 0x7F) | (buf[pos + 1] << 7)
                vl = (z >> 1) ^ -(z & 1)
                pos += 2
            else:
                vl, pos = decode_varint(buf, pos)
            if vl < 0:
                value = None
            else:
                value = buf[pos : pos + vl]
                pos += vl
            b = buf[pos]
            if b == 0:
                headers = ()
                pos += 1
            else:
                hcount, pos = decode_varint(buf, pos)
                hs = []
                for _h in range(hcount):
                    hkl, pos = decode_varint(buf, pos)
                    if hkl < 0:
                        raise CorruptRecord(f"record at offset {offset} has a null header key")
                    hkey = buf[pos : pos + hkl].decode("utf-8", "replace")
                    pos += hkl
                    hvl, pos = decode_varint(buf, pos)
                    if hvl < 0:
                        hvalue = None
                    else:
                        hvalue = buf[pos : pos + hvl]
                        pos += hvl
                    hs.append((hkey, hvalue))
                headers = tuple(hs)
            if pos != record_end:
                raise CorruptRecord(
                    f"record at offset {offset} is {length} bytes long but its fields "
                    f"take {length + pos - record_end}"
                )
            append(
                new(
                    Record,
                    (
                        offset,
                        base_ts + ts_delta if log_append_time < 0 else log_append_time,
                        key,
                        value,
                        headers,
                    ),
                )
            )
    except IndexError:
        raise CorruptRecord(
            f"batch at base offset {base_offset} ends in the middle of a record"
        ) from None
    return out


# -- the uniform fast path -------------------------------------------------------------------
#
# A batch of records of one shape (no key or keys of one length, values of one length, no
# headers, one timestamp) is periodic: record i differs from record i+1 only in its offset
# delta and its key and value bytes.  Such a batch is checked column by column with strided
# slices (``buf[j:stop:stride]``, one C loop each) against the bytes the general encoder writes
# for that shape; only if every column matches are keys and values cut out by arithmetic.
# Any other batch goes to the general decoder, so the result never depends on the path taken.

_UNIFORM_MAX_RECORDS = 8192  # offset deltas of one or two varint bytes
# (varint width, first record index, end record index) for offset deltas 0..8191
_WIDTH_RANGES = ((1, 0, 64), (2, 64, _UNIFORM_MAX_RECORDS))
# _OFFSET_COLUMNS[w][k]: byte k of the offset-delta varint of every record index of width w.
_OFFSET_COLUMNS = {1: (_G0[:64],), 2: (_G0_MORE[64:8192], _G1[64:8192])}
_BYTE = [bytes([c]) for c in range(256)]


class UniformShape(NamedTuple):
    """The shape every record of a periodic batch shares, learnt from record 0."""

    key_length: int  # -1: null keys
    key_length_bytes: bytes
    value_length: int
    value_length_bytes: bytes


class _Run(NamedTuple):
    """Records ``lo``.. ``lo + n - 1`` of a periodic batch, whose offset-delta varints have one
    width: they start at ``pos``, every ``stride`` bytes; values at ``value_pos`` on."""

    lo: int
    n: int
    pos: int
    stride: int
    value_pos: int


def _uniform_shape(buf, start: int, end: int) -> UniformShape | None:
    """Record 0's shape if it can start a periodic batch: attributes 0, timestamp delta 0,
    offset delta 0, no headers."""
    try:
        _length, q = decode_varint(buf, start)
        if buf[q] or buf[q + 1] or buf[q + 2]:
            return None
        q += 3
        kl, q2 = decode_varint(buf, q)
        key_len = buf[q:q2]
        q = q2 + (kl if kl > 0 else 0)
        vl, q2 = decode_varint(buf, q)
        if vl < 0 or q2 + vl >= end or buf[q2 + vl]:
            return None
    except (IndexError, CorruptRecord):
        return None  # let the general decoder say what is wrong
    return UniformShape(kl, bytes(key_len), vl, bytes(buf[q:q2]))


def _uniform_runs(buf, start: int, end: int, shape: UniformShape, last: int) -> list[_Run] | None:
    """Check records 0..``last``-1 column by column against ``shape``; their runs, or None
    when any byte differs from what the general encoder writes for that shape."""
    key_size = shape.key_length if shape.key_length > 0 else 0
    key_len = shape.key_length_bytes
    value_len = shape.value_length_bytes
    runs: list[_Run] = []
    pos = start
    for width, lo, hi in _WIDTH_RANGES:
        if lo >= last:
            break
        n = (hi if hi < last else last) - lo
        body = 3 + width + len(key_len) + key_size + len(value_len) + shape.value_length
        length_bytes = zigzag_varint(body)
        stride = len(length_bytes) + body
        stop = pos + n * stride
        if stop > end:
            return None
        key_pos = len(length_bytes) + 2 + width
        value_len_pos = key_pos + len(key_len) + key_size
        for col, expected in (
            (0, length_bytes + b"\x00\x00"),  # length, attributes, timestamp delta
            (key_pos, key_len),
            (value_len_pos, value_len),
            (stride - 1, b"\x00"),  # header count
        ):
            for k, c in enumerate(expected):
                if buf[pos + col + k : stop : stride] != _BYTE[c] * n:
                    return None
        columns = _OFFSET_COLUMNS[width]
        for k in range(width):
            if buf[pos + len(length_bytes) + 2 + k : stop : stride] != columns[k][:n]:
                return None
        runs.append(_Run(lo, n, pos, stride, pos + value_len_pos + len(value_len)))
        pos = stop
    return runs


def uniform_shape(buf, start: int, end: int, count: int) -> UniformShape | None:
    """The shape of the ``count`` records from ``start`` to exactly ``end`` if they form a
    periodic batch (every field checked, offset deltas 0..count-1), else None.  What the
    validator's fast path asks: it builds no record."""
    if count > _UNIFORM_MAX_RECORDS:
        return None
    shape = _uniform_shape(buf, start, end)
    if shape is None:
        return None
    runs = _uniform_runs(buf, start, end, shape, count)
    if runs is None or runs[-1].pos + runs[-1].n * runs[-1].stride != end:
        return None
    return shape


def _decode_uniform(buf, start, end, base_offset, base_ts, log_append_time, count, first, last):
    """Records ``first``..``last``-1 of a periodic batch of ``count`` records, else None.

    Records after ``last`` are not looked at, as the general decoder does not look at them.
    """
    shape = _uniform_shape(buf, start, end)
    if shape is None:
        return None
    # Only the records up to the last one wanted are checked: they fix its position.
    runs = _uniform_runs(buf, start, end, shape, last)
    if runs is None:
        return None
    if last == count and runs[-1].pos + runs[-1].n * runs[-1].stride != end:
        return None
    ts = base_ts if log_append_time < 0 else log_append_time
    kl = shape.key_length
    vl = shape.value_length
    back = len(shape.value_length_bytes) + kl
    # Built by C loops only: struct cuts each record's key and value out of its fixed-size
    # slot (iter_unpack: no slice object per record), zip lines the fields up, and
    # tuple.__new__ makes them a Record.
    view = memoryview(buf)
    records: list[Record] = []
    for lo, n, pos, stride, value_pos in runs:
        a = first - lo if first > lo else 0
        b = last - lo if last - lo < n else n
        if a >= b:
            continue
        slots = view[pos + a * stride : pos + b * stride]
        value_at = value_pos - pos
        after = stride - value_at - vl
        offsets = range(base_offset + lo + a, base_offset + lo + b)
        if kl < 0:
            values = map(_FIRST, struct.iter_unpack(f"{value_at}x{vl}s{after}x", slots))
            keys = repeat(None)
        else:
            key_at = value_at - back
            fmt = f"{key_at}x{kl}s{back - kl}x{vl}s{after}x"
            cut = list(struct.iter_unpack(fmt, slots))
            keys = map(_FIRST, cut)
            values = map(_SECOND, cut)
        fields = zip(offsets, repeat(ts), keys, values, repeat(()))
        records += map(tuple.__new__, repeat(Record), fields)
    return records


def batch_keys(buf: bytes, pos: int, size: int) -> tuple[list[bytes], range] | None:
    """The keys of a periodic batch's records and their offsets, without building records
    (the log cleaner's fast path); None for any other batch (null keys or values, headers,
    compression, a compacted batch), which callers decode in full."""
    base_offset, _l, _e, _m, _c, attributes, last_delta, _bt, _mt, _p, _pe, _s, count = (
        HEADER.unpack_from(buf, pos)
    )
    if attributes & (COMPRESSION_MASK | CONTROL_MASK) or count <= 0 or count != last_delta + 1:
        return None
    if count > _UNIFORM_MAX_RECORDS:
        return None
    start, end = pos + BATCH_HEADER_SIZE, pos + size
    shape = _uniform_shape(buf, start, end)
    if shape is None or shape.key_length < 0:
        return None
    runs = _uniform_runs(buf, start, end, shape, count)
    if runs is None or runs[-1].pos + runs[-1].n * runs[-1].stride != end:
        return None
    kl = shape.key_length
    back = len(shape.value_length_bytes) + kl
    keys: list[bytes] = []
    for _lo, n, _pos, stride, value_pos in runs:
        first = value_pos - back
        keys += [buf[p : p + kl] for p in range(first, first + n * stride, stride)]
    return keys, range(base_offset, base_offset + count)


def record_offset_positions(batch) -> list[tuple[int, int]]:
    """(offset, byte position within the batch) of every record, for ``kcli log dump``."""
    header = read_header(batch)
    if header.attributes & COMPRESSION_MASK:
        return [(r.offset, -1) for r in decode_batch(batch)]
    pos = BATCH_HEADER_SIZE
    out = []
    for _ in range(header.records_count):
        start = pos
        length, pos = decode_varint(batch, pos)
        end = pos + length
        pos += 1
        _, pos = decode_varint(batch, pos)
        delta, pos = decode_varint(batch, pos)
        out.append((header.base_offset + delta, start))
        pos = end
    return out
