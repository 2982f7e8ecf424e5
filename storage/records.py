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

from storage.constants import (
    BATCH_HEADER_SIZE,
    INT32_MAX,
    MAGIC,
    NO_PRODUCER_EPOCH,
    NO_PRODUCER_ID,
    NO_SEQUENCE,
)
from storage.crc import crc32c
from storage.errors import RecordTooLarge, StorageError
from storage.log_validator import validate_batch
from storage.record_batch import (
    CREATE_TIME,
    HEADER,
    LOG_APPEND_TIME,
    BatchHeader,
    ProducerRecord,
    Record,
    compress_batch,
    compute_crc,
    crc_is_valid,
    read_header,
    set_base_offset,
    set_log_append_time,
    split_batches,
)
from storage.record_decode import (
    decode_batch,
    decode_batch_at,
    decode_batches,
    record_offset_positions,
)
from storage.varint import NULL as _NULL
from storage.varint import VARINT as _VARINT
from storage.varint import VARINT_TABLE_SIZE as _VARINT_TABLE_SIZE
from storage.varint import decode_varint, zigzag_varint
from storage.varint import zigzag_varint_uncached as _zigzag_varint

# The codec's public names, wherever they live: importers use ``storage.records``.
__all__ = [
    "compress_batch",
    "CREATE_TIME",
    "HEADER",
    "LOG_APPEND_TIME",
    "BatchHeader",
    "ProducerRecord",
    "Record",
    "compute_crc",
    "crc_is_valid",
    "decode_batch",
    "decode_batch_at",
    "decode_batches",
    "decode_varint",
    "encode_batch",
    "encode_batches",
    "read_header",
    "record_offset_positions",
    "set_base_offset",
    "set_log_append_time",
    "split_batches",
    "validate_batch",
    "zigzag_varint",
]

_AFTER_CRC = struct.Struct(">hiqqqhii")  # attributes .. recordsCount
_CRC = struct.Struct(">I")
# baseOffset, batchLength, partitionLeaderEpoch, magic
_PREFIX = struct.Struct(">qiib")


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


def encode_batches(
    records: Sequence[ProducerRecord | bytes],
    timestamp: int,
    max_batch_bytes: int,
    batch_records: int,
    *,
    producer_id: int = NO_PRODUCER_ID,
    producer_epoch: int = NO_PRODUCER_EPOCH,
    base_sequence: int = NO_SEQUENCE,
) -> list[bytes]:
    """Split records into batches of at most ``batch_records`` records and about
    ``max_batch_bytes`` bytes; a single record that cannot fit is RecordTooLarge.

    With a ``base_sequence``, each batch's base sequence continues the previous one's."""
    out: list[bytes] = []
    start = 0
    n = len(records)
    sequence = base_sequence
    while start < n:
        chunk = records[start : start + batch_records]
        while True:
            batch = encode_batch(
                chunk,
                timestamp=timestamp,
                producer_id=producer_id,
                producer_epoch=producer_epoch,
                base_sequence=sequence,
            )
            if len(batch) <= max_batch_bytes or len(chunk) == 1:
                break
            chunk = chunk[: max(1, len(chunk) // 2)]
        if len(batch) > max_batch_bytes:
            size = len(batch) - BATCH_HEADER_SIZE
            raise RecordTooLarge(
                f"a record of about {size} bytes does not fit in max.message.bytes="
                f"{max_batch_bytes}; raise it with --config max.message.bytes=N"
            )
        out.append(batch)
        start += len(chunk)
        if sequence >= 0:
            sequence = (sequence + len(chunk)) % (INT32_MAX + 1)
    return out
