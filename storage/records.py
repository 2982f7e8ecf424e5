"""Kafka's RecordBatch v2 (magic 2): encode, decode, validate.

Layout of one batch (big-endian), exactly what Kafka writes to disk and sends on the wire::

    baseOffset int64 | batchLength int32 | partitionLeaderEpoch int32 | magic int8 (=2)
    crc uint32  (CRC-32C of everything from attributes to the end of the batch)
    attributes int16 | lastOffsetDelta int32 | baseTimestamp int64 | maxTimestamp int64
    producerId int64 | producerEpoch int16 | baseSequence int32 | recordsCount int32
    records...

    record: length varint | attributes int8 | timestampDelta varlong | offsetDelta varint
            keyLength varint | key | valueLength varint | value
            headersCount varint | (headerKeyLength varint | key | headerValueLength varint | value)*

Varints are zigzag-encoded, as in protobuf.  The CRC does not cover baseOffset, so a log
assigns offsets by patching the first 8 bytes of a batch without re-encoding it.

The encoder and decoder are the hot path of every produce and consume, so they are written
for CPython's speed: small lengths come from precomputed varint tables, a batch is one
``b"".join``, and records are decoded with inline one- and two-byte varint fast paths.  The
most common batch, records of one shape (values of one length, no headers), has a faster
path each way: cached per-record prefixes interleaved with the values when encoding, and
when decoding a column-by-column check with strided slices followed by arithmetic slicing
(see ``_decode_uniform``); both give exactly the bytes and records of the general code.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from itertools import chain, repeat
from operator import add, itemgetter
from typing import NamedTuple

from crc32c import crc32c

from storage.compression import decompress as _decompress
from storage.constants import (
    ATTRIBUTES_POS,
    BATCH_HEADER_SIZE,
    COMPRESSION_MASK,
    COMPRESSION_NAMES,
    CONTROL_MASK,
    CRC_POS,
    LOG_OVERHEAD,
    MAGIC,
    NO_PRODUCER_EPOCH,
    NO_PRODUCER_ID,
    NO_SEQUENCE,
    TIMESTAMP_TYPE_MASK,
    TRANSACTIONAL_MASK,
)
from storage.errors import CorruptRecord, StorageError

HEADER = struct.Struct(">qiibIhiqqqhii")
_AFTER_CRC = struct.Struct(">hiqqqhii")  # attributes .. recordsCount
_BASE_OFFSET = struct.Struct(">q")
_LENGTH = struct.Struct(">i")
_CRC = struct.Struct(">I")
_MAX_TS = struct.Struct(">q")
_ATTRS = struct.Struct(">h")
# baseOffset, batchLength, partitionLeaderEpoch, magic
_PREFIX = struct.Struct(">qiib")

CREATE_TIME = "CreateTime"
LOG_APPEND_TIME = "LogAppendTime"


def _zigzag_varint(n: int) -> bytes:
    z = (n << 1) ^ (n >> 63)
    z &= 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


# Zigzag varints of 0..16383 (every length of a small key or value, every offset delta in a
# batch of up to 16k records) are looked up rather than computed.
_VARINT_TABLE_SIZE = 1 << 14


def _varint_groups() -> tuple[bytes, bytes, bytes, bytes, bytes]:
    """Byte k of the zigzag varint of every n in 0..16383, one bytes object per k.

    zigzag(n) = 2n for n >= 0, cut into 7-bit groups, lowest first; every byte of a varint
    but its last has the high bit set.  Built with bytes operations in C: computing 16k
    varints one by one would cost every kcli command ~15 ms of start-up.
    """
    with_more = bytes(range(128, 256)) * 2  # a translate table that sets the high bit
    group0 = bytes(range(0, 128, 2)) * (_VARINT_TABLE_SIZE // 64)  # (2n) & 0x7F
    group1 = b"".join(bytes((g,)) * 64 for g in range(128)) * 2  # (2n >> 7) & 0x7F
    group2 = bytes(8192) + b"\x01" * 8192  # 2n >> 14
    return group0, group0.translate(with_more), group1, group1.translate(with_more), group2


_G0, _G0_MORE, _G1, _G1_MORE, _G2 = _varint_groups()
_VARINT = (
    [bytes((b,)) for b in _G0[:64]]  # n < 64: one byte
    + list(map(bytes, zip(_G0_MORE[64:8192], _G1[64:8192], strict=True)))  # n < 8192: two
    + list(map(bytes, zip(_G0_MORE[8192:], _G1_MORE[8192:], _G2[8192:], strict=True)))  # three
)
_NULL = _zigzag_varint(-1)  # length -1: a null key or value


def zigzag_varint(n: int) -> bytes:
    """Encode one signed integer as a zigzag varint."""
    if 0 <= n < _VARINT_TABLE_SIZE:
        return _VARINT[n]
    return _zigzag_varint(n)


def decode_varint(buf, pos: int) -> tuple[int, int]:
    """Decode one zigzag varint at ``pos``; return (value, position after it)."""
    shift = 0
    z = 0
    while True:
        b = buf[pos]
        pos += 1
        z |= (b & 0x7F) << shift
        if b < 0x80:
            return (z >> 1) ^ -(z & 1), pos
        shift += 7
        if shift > 63:
            raise CorruptRecord("varint longer than 10 bytes")


class Record(NamedTuple):
    """One record as read from a log.

    A tuple rather than a dataclass because a consumer builds hundreds of thousands of them
    per second and tuple construction is several times cheaper.
    """

    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]


class ProducerRecord(NamedTuple):
    """A record to append: the offset is assigned by the log, the timestamp by the producer."""

    value: bytes | None
    key: bytes | None = None
    headers: tuple[tuple[str, bytes | None], ...] = ()
    timestamp: int | None = None


class BatchHeader(NamedTuple):
    """The fixed 61-byte header of a RecordBatch v2."""

    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records_count: int

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.last_offset_delta + 1

    @property
    def size(self) -> int:
        """Bytes the whole batch takes, header included."""
        return self.batch_length + LOG_OVERHEAD

    @property
    def compression(self) -> str:
        return COMPRESSION_NAMES.get(self.attributes & COMPRESSION_MASK, "unknown")

    @property
    def timestamp_type(self) -> str:
        return LOG_APPEND_TIME if self.attributes & TIMESTAMP_TYPE_MASK else CREATE_TIME

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & TRANSACTIONAL_MASK)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & CONTROL_MASK)


def read_header(buf, pos: int = 0) -> BatchHeader:
    """Parse the batch header at ``pos`` (no CRC check)."""
    return BatchHeader._make(HEADER.unpack_from(buf, pos))


def compute_crc(batch) -> int:
    """CRC-32C of a batch, over attributes to the end (what the header's crc must equal)."""
    return crc32c(memoryview(batch)[ATTRIBUTES_POS:])


def crc_is_valid(batch) -> bool:
    return _CRC.unpack_from(batch, CRC_POS)[0] == compute_crc(batch)


def validate_batch(batch, *, where: str = "batch") -> BatchHeader:
    """Check that ``batch`` is exactly one well-formed RecordBatch v2 with a valid CRC.

    Raises CorruptRecord naming ``where`` and what is wrong.
    """
    if len(batch) < BATCH_HEADER_SIZE:
        raise CorruptRecord(f"{where}: {len(batch)} bytes is shorter than a batch header (61)")
    header = read_header(batch)
    if header.magic != MAGIC:
        raise CorruptRecord(f"{where}: magic byte is {header.magic}, expected {MAGIC}")
    if header.size != len(batch):
        raise CorruptRecord(
            f"{where}: batchLength says {header.size} bytes but the batch has {len(batch)}"
        )
    if header.last_offset_delta < 0 or header.records_count < 0:
        raise CorruptRecord(f"{where}: negative record count or offset delta")
    actual = compute_crc(batch)
    if actual != header.crc:
        raise CorruptRecord(
            f"{where}: CRC-32C mismatch (stored {header.crc:#010x}, computed {actual:#010x})"
        )
    return header


def split_batches(data) -> list[memoryview]:
    """Split concatenated batches (a Produce request's records) into one view per batch."""
    view = memoryview(data)
    out = []
    pos = 0
    end = len(view)
    while pos < end:
        if end - pos < LOG_OVERHEAD:
            raise CorruptRecord(f"{end - pos} trailing bytes are not a whole batch")
        size = _LENGTH.unpack_from(view, pos + 8)[0] + LOG_OVERHEAD
        if size < BATCH_HEADER_SIZE or pos + size > end:
            raise CorruptRecord(f"batch at byte {pos} claims {size} bytes; {end - pos} remain")
        out.append(view[pos : pos + size])
        pos += size
    return out


def set_base_offset(batch: bytearray, base_offset: int) -> None:
    """Assign offsets to a batch: baseOffset lies outside the CRC, so nothing else changes."""
    _BASE_OFFSET.pack_into(batch, 0, base_offset)


def set_log_append_time(batch: bytearray, now_ms: int) -> None:
    """Stamp a batch with LogAppendTime, as Kafka's broker does, and recompute its CRC."""
    attributes = _ATTRS.unpack_from(batch, ATTRIBUTES_POS)[0] | TIMESTAMP_TYPE_MASK
    _ATTRS.pack_into(batch, ATTRIBUTES_POS, attributes)
    _MAX_TS.pack_into(batch, 35, now_ms)
    _CRC.pack_into(batch, CRC_POS, compute_crc(batch))


# Records with no key, no headers and the batch's timestamp, whose values all have one length,
# are encoded from cached prefixes: record i's bytes up to its value.  Every prefix but the
# first starts with the previous record's header count (0), so a batch's records are just
# prefixes and values interleaved, joined in one C call.
_PREFIX_MAX_RECORDS = _VARINT_TABLE_SIZE
# Largest value the varied-length path takes: its record size must stay in the varint table.
_VARIED_MAX = _VARINT_TABLE_SIZE - 16
_VALUE, _KEY, _HEADERS, _TIMESTAMP = (itemgetter(i) for i in range(4))
_PREFIX_CACHE_SIZE = 64
_prefixes: dict[int, list[bytes]] = {}


def _uniform_prefixes(value_len: int, count: int) -> list[bytes]:
    cached = _prefixes.get(value_len)
    if cached is not None and len(cached) >= count:
        return cached
    if len(_prefixes) >= _PREFIX_CACHE_SIZE:
        _prefixes.clear()
    value_len_bytes = zigzag_varint(value_len)
    out = []
    for i in range(max(count, 1024)):
        offset_delta = zigzag_varint(i)
        # attributes, timestamp delta, offset delta, null key, value length, value, headers
        size = 4 + len(offset_delta) + len(value_len_bytes) + value_len
        out.append(
            (b"\x00" if i else b"")
            + zigzag_varint(size)
            + b"\x00\x00"
            + offset_delta
            + _NULL
            + value_len_bytes
        )
    _prefixes[value_len] = out
    return out


def encode_batch(
    records: Sequence[ProducerRecord | bytes] | Iterable[ProducerRecord | bytes],
    *,
    base_offset: int = 0,
    timestamp: int,
    producer_id: int = NO_PRODUCER_ID,
    producer_epoch: int = NO_PRODUCER_EPOCH,
    base_sequence: int = NO_SEQUENCE,
    partition_leader_epoch: int = 0,
) -> bytes:
    """Encode records into one uncompressed RecordBatch v2.

    A record is a ProducerRecord or, for a record with a value only, just the value's bytes.
    ``timestamp`` is used for every record whose own timestamp is None (CreateTime).
    """
    records = records if isinstance(records, (list, tuple)) else list(records)
    if not records:
        raise StorageError("a record batch needs at least one record")
    count = len(records)
    plain = list(map(type, records)).count(bytes) == count
    if not plain and not all(isinstance(r, tuple) for r in records):
        records = [r if isinstance(r, tuple) else ProducerRecord(r) for r in records]
    varint = _VARINT
    table_size = _VARINT_TABLE_SIZE
    first_ts = None if plain else records[0].timestamp
    base_ts = timestamp if first_ts is None else first_ts
    max_ts = base_ts
    parts: list[bytes] = [b""]  # header placeholder
    extend = parts.extend
    if first_ts is None and count <= _PREFIX_MAX_RECORDS:
        # The common batch: values only, all of one length (kcli produce, perf tests).
        # list.count compares in C: a few tens of nanoseconds per record for the checks.
        if plain:
            values = records
        elif (
            list(map(_KEY, records)).count(None) == count
            and list(map(_TIMESTAMP, records)).count(None) == count
            and list(map(_HEADERS, records)).count(()) == count
        ):
            values = list(map(_VALUE, records))
        else:
            values = None
        if (
            values is not None
            and len(lengths := set(map(len, values) if None not in values else ())) == 1
        ):
            prefixes = _uniform_prefixes(lengths.pop(), count)
            extend(chain.from_iterable(zip(prefixes[:count], values, strict=True)))
            parts.append(b"\x00")
            records = ()
        elif values is not None and None not in values and max(map(len, values)) < _VARIED_MAX:
            # Values of varied lengths (stdin lines): the bytes of the loop below, each
            # per-record step done by map/zip in C.  Record body: attributes, timestamp
            # delta 0, offset delta, key length -1, value length, value, header count 0.
            value_lens = list(map(len, values))
            value_len_bytes = list(map(varint.__getitem__, value_lens))
            offset_bytes = varint[:count]
            sizes = map(
                add, map(add, value_lens, map(len, value_len_bytes)), map(len, offset_bytes)
            )
            extend(
                chain.from_iterable(
                    zip(
                        map(varint.__getitem__, map(add, sizes, repeat(4))),
                        repeat(b"\x00\x00"),
                        offset_bytes,
                        repeat(b"\x01"),
                        value_len_bytes,
                        values,
                        repeat(b"\x00"),
                    )
                )
            )
            records = ()
    if plain and records:
        records = [ProducerRecord(v) for v in records]
    for i, (value, key, headers, ts) in enumerate(records):
        if ts is None:
            ts = timestamp
        if ts == base_ts:
            ts_bytes = b"\x00"
        else:
            ts_bytes = _zigzag_varint(ts - base_ts)
            if ts > max_ts:
                max_ts = ts
        off_bytes = varint[i] if i < table_size else _zigzag_varint(i)
        if value is None:
            val_len_bytes = _NULL
            vl = 0
        else:
            vl = len(value)
            val_len_bytes = varint[vl] if vl < table_size else _zigzag_varint(vl)
        if key is None and not headers:
            # The common record: no key, no headers.
            size = 3 + len(ts_bytes) + len(off_bytes) + len(val_len_bytes) + vl
            extend(
                (
                    varint[size] if size < table_size else _zigzag_varint(size),
                    b"\x00",
                    ts_bytes,
                    off_bytes,
                    b"\x01",
                    val_len_bytes,
                    value or b"",
                    b"\x00",
                )
            )
            continue
        if key is None:
            key_part = _NULL
        else:
            kl = len(key)
            key_part = (varint[kl] if kl < table_size else _zigzag_varint(kl)) + key
        if headers:
            hparts = [zigzag_varint(len(headers))]
            for hkey, hvalue in headers:
                hk = hkey.encode("utf-8") if isinstance(hkey, str) else bytes(hkey)
                hparts.append(zigzag_varint(len(hk)))
                hparts.append(hk)
                if hvalue is None:
                    hparts.append(_NULL)
                else:
                    hparts.append(zigzag_varint(len(hvalue)))
                    hparts.append(hvalue)
            header_part = b"".join(hparts)
        else:
            header_part = b"\x00"
        size = (
            1
            + len(ts_bytes)
            + len(off_bytes)
            + len(key_part)
            + len(val_len_bytes)
            + vl
            + len(header_part)
        )
        extend(
            (
                zigzag_varint(size),
                b"\x00",
                ts_bytes,
                off_bytes,
                key_part,
                val_len_bytes,
                value or b"",
                header_part,
            )
        )
    body_after_crc = _AFTER_CRC.pack(
        0, count - 1, base_ts, max_ts, producer_id, producer_epoch, base_sequence, count
    )
    parts[0] = body_after_crc
    payload = b"".join(parts)
    crc = crc32c(payload)
    prefix = _PREFIX.pack(base_offset, len(payload) + 9, partition_leader_epoch, MAGIC)
    return prefix + _CRC.pack(crc) + payload


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


def _decode_uniform(buf, start, end, base_offset, base_ts, log_append_time, count, first, last):
    """Records ``first``..``last``-1 of a periodic batch of ``count`` records, else None.

    Records after ``last`` are not looked at, as the general decoder does not look at them.
    """
    # Learn the shape from record 0: attributes 0, timestamp delta 0, offset delta 0.
    try:
        _length, q = decode_varint(buf, start)
        if buf[q] or buf[q + 1] or buf[q + 2]:
            return None
        q += 3
        kl, q2 = decode_varint(buf, q)
        key_len = buf[q:q2]
        key_size = kl if kl > 0 else 0
        q = q2 + key_size
        vl, q2 = decode_varint(buf, q)
        if vl < 0 or q2 + vl >= end or buf[q2 + vl]:
            return None
    except (IndexError, CorruptRecord):
        return None  # let the general decoder say what is wrong
    value_len = buf[q:q2]
    ts = base_ts if log_append_time < 0 else log_append_time
    new = tuple.__new__
    records: list[Record] = []
    pos = start
    for width, lo, hi in _WIDTH_RANGES:
        if lo >= last:
            break
        # Only the records up to the last one wanted are checked: they fix its position.
        n = (hi if hi < last else last) - lo
        body = 3 + width + len(key_len) + key_size + len(value_len) + vl
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
        a = first - lo if first > lo else 0
        b = last - lo if last - lo < n else n
        if a < b:
            value_pos = pos + value_len_pos + len(value_len)
            positions = range(value_pos + a * stride, value_pos + b * stride, stride)
            offsets = range(base_offset + lo + a, base_offset + lo + b)
            if kl < 0:
                records += [
                    new(Record, (o, ts, None, buf[p : p + vl], ()))
                    for o, p in zip(offsets, positions, strict=True)
                ]
            else:
                back = len(value_len) + key_size
                records += [
                    new(Record, (o, ts, buf[p - back : p - back + key_size], buf[p : p + vl], ()))
                    for o, p in zip(offsets, positions, strict=True)
                ]
        pos = stop
    if last == count and pos != end:
        return None
    return records


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
