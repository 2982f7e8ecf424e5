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
``b"".join``, and records are decoded with inline single-byte varint fast paths.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from crc32c import crc32c

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
_VARINT = [_zigzag_varint(n) for n in range(_VARINT_TABLE_SIZE)]
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


def encode_batch(
    records: Sequence[ProducerRecord] | Iterable[ProducerRecord],
    *,
    base_offset: int = 0,
    timestamp: int,
    producer_id: int = NO_PRODUCER_ID,
    producer_epoch: int = NO_PRODUCER_EPOCH,
    base_sequence: int = NO_SEQUENCE,
    partition_leader_epoch: int = 0,
) -> bytes:
    """Encode records into one uncompressed RecordBatch v2.

    ``timestamp`` is used for every record whose own timestamp is None (CreateTime).
    """
    records = records if isinstance(records, (list, tuple)) else list(records)
    if not records:
        raise StorageError("a record batch needs at least one record")
    varint = _VARINT
    table_size = _VARINT_TABLE_SIZE
    first_ts = records[0].timestamp
    base_ts = timestamp if first_ts is None else first_ts
    max_ts = base_ts
    parts: list[bytes] = [b""]  # header placeholder
    extend = parts.extend
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
    count = len(records)
    body_after_crc = _AFTER_CRC.pack(
        0, count - 1, base_ts, max_ts, producer_id, producer_epoch, base_sequence, count
    )
    parts[0] = body_after_crc
    payload = b"".join(parts)
    crc = crc32c(payload)
    prefix = _PREFIX.pack(base_offset, len(payload) + 9, partition_leader_epoch, MAGIC)
    return prefix + _CRC.pack(crc) + payload


def _decompress(codec: int, data) -> bytes:
    if codec == 1:
        return zlib.decompress(bytes(data), 16 + zlib.MAX_WBITS)
    name = COMPRESSION_NAMES.get(codec, f"codec {codec}")
    try:
        if codec == 2:
            import snappy  # type: ignore[import-not-found]

            raw = bytes(data)
            if raw.startswith(b"\x82SNAPPY\x00"):
                # xerial framing, as Java producers write it
                out = []
                pos = 16
                while pos < len(raw):
                    (n,) = struct.unpack_from(">i", raw, pos)
                    out.append(snappy.decompress(raw[pos + 4 : pos + 4 + n]))
                    pos += 4 + n
                return b"".join(out)
            return snappy.decompress(raw)
        if codec == 3:
            import lz4.frame  # type: ignore[import-not-found]

            return lz4.frame.decompress(bytes(data))
        if codec == 4:
            import zstandard  # type: ignore[import-not-found]

            return zstandard.ZstdDecompressor().decompressobj().decompress(bytes(data))
    except ImportError:
        pass
    raise StorageError(
        f"this batch is compressed with {name}; install the Python package for {name} "
        f"(python-snappy, lz4 or zstandard) to read it"
    )


def decode_batch(batch, *, min_offset: int = 0, max_records: int | None = None) -> list[Record]:
    """Decode the records of one batch (header included in ``batch``).

    Records below ``min_offset`` are skipped without building them; decoding stops after
    ``max_records`` records.  Control batches
    (transaction markers) hold no user records and decode to an empty list.
    """
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
    ) = HEADER.unpack_from(batch, 0)
    if attributes & CONTROL_MASK:
        return []
    codec = attributes & COMPRESSION_MASK
    if codec:
        buf = _decompress(codec, memoryview(batch)[BATCH_HEADER_SIZE:])
        pos = 0
    else:
        buf = batch if isinstance(batch, bytes) else bytes(batch)
        pos = BATCH_HEADER_SIZE
    log_append = attributes & TIMESTAMP_TYPE_MASK
    out: list[Record] = []
    append = out.append
    new = tuple.__new__  # skips NamedTuple's Python-level __new__: 3x cheaper per record
    if max_records is not None:
        count = min(count, max(0, min_offset - base_offset) + max_records)
    try:
        for _ in range(count):
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
                    (offset, max_ts if log_append else base_ts + ts_delta, key, value, headers),
                )
            )
    except IndexError:
        raise CorruptRecord(
            f"batch at base offset {base_offset} ends in the middle of a record"
        ) from None
    del last_offset_delta
    return out


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
