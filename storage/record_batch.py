"""RecordBatch v2 (magic 2): the record and batch types, the fixed 61-byte batch header,
its CRC, and the few in-place changes a log makes to a batch it stores (baseOffset, and
LogAppendTime).  Layout and codec: ``storage.records``.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from storage.compression import compress
from storage.constants import (
    ATTRIBUTES_POS,
    BATCH_HEADER_SIZE,
    COMPRESSION_MASK,
    COMPRESSION_NAMES,
    CONTROL_MASK,
    CRC_POS,
    LOG_OVERHEAD,
    MAGIC,
    TIMESTAMP_TYPE_MASK,
    TRANSACTIONAL_MASK,
)
from storage.crc import crc32c
from storage.errors import CorruptRecord, StorageError

HEADER = struct.Struct(">qiibIhiqqqhii")
_BASE_OFFSET = struct.Struct(">q")
_LENGTH = struct.Struct(">i")
_CRC = struct.Struct(">I")
_MAX_TS = struct.Struct(">q")
_ATTRS = struct.Struct(">h")

CREATE_TIME = "CreateTime"
LOG_APPEND_TIME = "LogAppendTime"


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


def check_framing(batch, *, where: str = "batch") -> BatchHeader:
    """Check that ``batch`` is exactly one RecordBatch v2 with a valid CRC: its header and
    length only (``storage.log_validator.validate_batch`` checks the records too).

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


def compress_batch(batch, codec: int) -> bytes:
    """An uncompressed batch with its records section compressed with ``codec`` (1 gzip,
    2 snappy, 3 lz4, 4 zstd; 0 returns it unchanged): attributes, batchLength and CRC
    updated, every other header field as it was."""
    if codec == 0:
        return bytes(batch)
    view = memoryview(batch)
    attributes = _ATTRS.unpack_from(view, ATTRIBUTES_POS)[0]
    if attributes & COMPRESSION_MASK:
        raise StorageError("the batch is already compressed")
    records = compress(codec, view[BATCH_HEADER_SIZE:])
    out = bytearray(view[:BATCH_HEADER_SIZE])
    out += records
    _LENGTH.pack_into(out, 8, len(out) - LOG_OVERHEAD)
    _ATTRS.pack_into(out, ATTRIBUTES_POS, (attributes & ~COMPRESSION_MASK) | codec)
    _CRC.pack_into(out, CRC_POS, compute_crc(out))
    return bytes(out)
