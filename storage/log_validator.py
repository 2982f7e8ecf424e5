"""Record-level validation of a batch before it is appended, as Kafka's ``LogValidator`` does.

A batch whose CRC is valid can still contradict itself: a header claiming more records than
it holds, offset deltas duplicated or out of order, a record length that runs past the batch.
Stored, such a batch makes a partition unreadable.  ``validate_batch`` checks every part a
reader will rely on, so that whatever the store accepts reads back exactly:

* framing: magic 2, batchLength equal to the bytes given, a valid CRC-32C (``CorruptRecord``,
  Kafka's CORRUPT_MESSAGE);
* the header: recordsCount = lastOffsetDelta + 1, a known compression codec, not a control
  batch (clients may not write those), maxTimestamp the largest record timestamp for
  CreateTime;
* every record: attributes 0, each varint well-formed and in range, lengths inside the
  record, offset deltas 0..n-1 in order, no null header key, header keys UTF-8, the records
  filling the batch (or its decompressed body) exactly (``InvalidRecord``, Kafka's
  INVALID_RECORD).

A batch compressed with a codec whose optional Python package is missing cannot be looked
into: it is stored with its framing and CRC checked only (as before), for wire clients.

The common batch (records of one shape, as every kcli producer and most clients write) is
checked column by column without building a record (``storage.record_decode.uniform_shape``);
any other batch is walked varint by varint, building nothing either.
"""

from __future__ import annotations

from storage.compression import decompress
from storage.constants import (
    BATCH_HEADER_SIZE,
    COMPRESSION_MASK,
    COMPRESSION_NAMES,
    CONTROL_MASK,
    TIMESTAMP_TYPE_MASK,
)
from storage.errors import CorruptRecord, InvalidRecord, StorageError
from storage.record_batch import BatchHeader, check_framing
from storage.record_decode import uniform_shape

_INT32_MIN = -(2**31)
_INT32_MAX = 2**31 - 1
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def validate_batch(batch, *, where: str = "batch") -> BatchHeader:
    """Check that ``batch`` is exactly one valid RecordBatch v2, record by record.

    Returns its header; raises CorruptRecord (framing, CRC, compression) or InvalidRecord
    (contents), naming ``where`` and what is wrong.
    """
    header = check_framing(batch, where=where)
    count = header.records_count
    if count != header.last_offset_delta + 1:
        raise InvalidRecord(
            f"{where}: recordsCount is {count} but lastOffsetDelta "
            f"{header.last_offset_delta} implies {header.last_offset_delta + 1} records"
        )
    attributes = header.attributes
    codec = attributes & COMPRESSION_MASK
    if codec not in COMPRESSION_NAMES:
        raise InvalidRecord(f"{where}: unknown compression codec {codec} in attributes")
    if attributes & CONTROL_MASK:
        raise InvalidRecord(f"{where}: clients may not write control batches")
    if codec:
        try:
            body = decompress(codec, memoryview(batch)[BATCH_HEADER_SIZE:])
        except CorruptRecord as exc:
            raise CorruptRecord(f"{where}: {exc}") from None
        except StorageError:
            # This Python lacks the codec's package (snappy, lz4, zstd are optional): the
            # batch is stored as sent, framing and CRC checked, for wire clients that read
            # it; kcli's own readers say which package to install.
            return header
        start, end = 0, len(body)
    else:
        body = batch if isinstance(batch, bytes) else bytes(batch)
        start, end = BATCH_HEADER_SIZE, len(body)
    shape = uniform_shape(body, start, end, count)
    if shape is not None and shape.key_length >= -1:
        max_delta = 0  # every record of a periodic batch has timestamp delta 0
    else:
        max_delta = _walk_records(body, start, end, count, where)
    if not attributes & TIMESTAMP_TYPE_MASK:
        largest = header.base_timestamp + max_delta
        if not _INT64_MIN <= largest <= _INT64_MAX:
            raise InvalidRecord(f"{where}: a record timestamp is outside the int64 range")
        if largest != header.max_timestamp:
            raise InvalidRecord(
                f"{where}: maxTimestamp is {header.max_timestamp} but the largest record "
                f"timestamp is {largest}"
            )
    return header


def _varint(buf, pos: int, end: int, limit: int, what: str, where: str, n: int):
    """Decode a zigzag varint (``limit`` 5: an int32; 10: an int64 varlong) ending before
    ``end``, as Kafka's ByteUtils reads them: no longer than ``limit`` bytes, in range."""
    shift = 0
    z = 0
    stop = pos + limit
    while True:
        if pos >= end:
            raise InvalidRecord(f"{where}: record {n} ends in the middle of its {what}")
        if pos >= stop:
            raise InvalidRecord(
                f"{where}: record {n} has a {what} varint longer than {limit} bytes"
            )
        b = buf[pos]
        pos += 1
        z |= (b & 0x7F) << shift
        if b < 0x80:
            value = (z >> 1) ^ -(z & 1)
            low, high = (_INT32_MIN, _INT32_MAX) if limit == 5 else (_INT64_MIN, _INT64_MAX)
            if not low <= value <= high:
                kind = "int32" if limit == 5 else "int64"
                raise InvalidRecord(f"{where}: record {n} has a {what} outside the {kind} range")
            return value, pos
        shift += 7


def _walk_records(buf, pos: int, end: int, count: int, where: str) -> int:
    """Check ``count`` records from ``pos`` filling the bytes up to ``end`` exactly; return
    the largest timestamp delta.  Builds no record and copies no key or value."""
    max_delta = None
    for n in range(count):
        if pos >= end:
            raise InvalidRecord(
                f"{where}: recordsCount is {count} but the batch holds only {n} records"
            )
        # One-byte varints (the usual case) inline; anything else through _varint.
        b = buf[pos]
        if b < 0x80:
            length = (b >> 1) ^ -(b & 1)
            pos += 1
        elif pos + 1 < end and buf[pos + 1] < 0x80:
            z = (b & 0x7F) | (buf[pos + 1] << 7)
            length = (z >> 1) ^ -(z & 1)
            pos += 2
        else:
            length, pos = _varint(buf, pos, end, 5, "length", where, n)
        if length < 6:  # attributes, and five varints of at least one byte each
            raise InvalidRecord(f"{where}: record {n} has an impossible length {length}")
        record_end = pos + length
        if record_end > end:
            raise InvalidRecord(
                f"{where}: record {n} claims {length} bytes, past the end of the batch"
            )
        if buf[pos]:
            # Unused in RecordBatch v2, and written as 0 by every producer; readers disagree
            # on what a non-zero byte means (one reads it as a varint), so it is refused.
            raise InvalidRecord(
                f"{where}: record {n} has attributes {buf[pos]:#04x}; record attributes are "
                f"unused in RecordBatch v2 and must be 0"
            )
        pos += 1
        b = buf[pos] if pos < record_end else 0x80
        if b < 0x80:
            ts_delta = (b >> 1) ^ -(b & 1)
            pos += 1
        else:
            ts_delta, pos = _varint(buf, pos, record_end, 10, "timestampDelta", where, n)
        if max_delta is None or ts_delta > max_delta:
            max_delta = ts_delta
        b = buf[pos] if pos < record_end else 0x80
        if b < 0x80:
            offset_delta = (b >> 1) ^ -(b & 1)
            pos += 1
        else:
            offset_delta, pos = _varint(buf, pos, record_end, 5, "offsetDelta", where, n)
        if offset_delta != n:
            raise InvalidRecord(
                f"{where}: record {n} has offsetDelta {offset_delta}; the offset deltas of a "
                f"batch must be 0, 1, 2... in order"
            )
        for field in ("key", "value"):
            b = buf[pos] if pos < record_end else 0x80
            if b < 0x80:
                size = (b >> 1) ^ -(b & 1)
                pos += 1
            elif pos + 1 < record_end and buf[pos + 1] < 0x80:
                z = (b & 0x7F) | (buf[pos + 1] << 7)
                size = (z >> 1) ^ -(z & 1)
                pos += 2
            else:
                size, pos = _varint(buf, pos, record_end, 5, f"{field} length", where, n)
            if size < -1:
                raise InvalidRecord(f"{where}: record {n} has a {field} length of {size}")
            if size > 0:
                pos += size
                if pos > record_end:
                    raise InvalidRecord(f"{where}: record {n}'s {field} runs past the record")
        if pos < record_end and buf[pos] == 0:
            # No headers, the usual case: the record must end here.
            if pos + 1 != record_end:
                raise InvalidRecord(
                    f"{where}: record {n} is {length} bytes long but its fields take "
                    f"{length + pos + 1 - record_end}"
                )
            pos = record_end
            continue
        headers, pos = _varint(buf, pos, record_end, 5, "header count", where, n)
        if headers < 0:
            raise InvalidRecord(f"{where}: record {n} has a header count of {headers}")
        for h in range(headers):
            size, pos = _varint(buf, pos, record_end, 5, "header key length", where, n)
            if size < 0:
                raise InvalidRecord(f"{where}: record {n} header {h} has a null key")
            key = buf[pos : pos + size]
            pos += size
            if pos > record_end:
                raise InvalidRecord(f"{where}: record {n} header {h} runs past the record")
            try:
                bytes(key).decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidRecord(f"{where}: record {n} header {h} key is not UTF-8") from None
            size, pos = _varint(buf, pos, record_end, 5, "header value length", where, n)
            if size < -1:
                raise InvalidRecord(f"{where}: record {n} header {h} has a value length {size}")
            if size > 0:
                pos += size
                if pos > record_end:
                    raise InvalidRecord(f"{where}: record {n} header {h} runs past the record")
        if pos != record_end:
            raise InvalidRecord(
                f"{where}: record {n} is {length} bytes long but its fields take "
                f"{length + pos - record_end}"
            )
    if pos != end:
        raise InvalidRecord(
            f"{where}: {end - pos} bytes follow the last of its {count} records; a batch's "
            f"records must fill it exactly"
        )
    return max_delta if max_delta is not None else 0
