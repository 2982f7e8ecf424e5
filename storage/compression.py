"""Compression codecs of RecordBatch v2: gzip, snappy, lz4 and zstd, read and written.

Every codec comes from cramjam, one wheel with no further dependencies, so a batch that a
Java, librdkafka or JavaScript producer compressed is readable with a plain install.  The
framing is what Kafka's clients exchange: gzip members; raw snappy when written (every client
reads it; Java's reads it too) and also the xerial framing Java producers write when read;
lz4 and zstd frames.

cramjam is imported by the functions that use it (``_cramjam``), not at module level: most
commands never meet a compressed batch, and its import costs every command's start-up.
"""

from __future__ import annotations

import struct

from storage.constants import COMPRESSION_NAMES
from storage.errors import CorruptRecord, StorageError

NONE, GZIP, SNAPPY, LZ4, ZSTD = 0, 1, 2, 3, 4
CODECS = {name: codec for codec, name in COMPRESSION_NAMES.items()}
# snappy-java's stream header: magic, then version 1 and minimum compatible version 1.
_XERIAL_HEADER = b"\x82SNAPPY\x00" + struct.pack(">ii", 1, 1)
_INT32 = struct.Struct(">i")


def _cramjam():
    import cramjam  # function-level: start-up time (see the module docstring)

    return cramjam


def codec_of(name: str) -> int:
    """The attributes value of a codec named as Kafka's ``compression.type`` names it."""
    try:
        return CODECS[name]
    except KeyError:
        raise StorageError(
            f"unknown compression '{name}'; use one of {', '.join(CODECS)}"
        ) from None


def compress(codec: int, data) -> bytes:
    """``data`` (a batch's records section) compressed with ``codec`` as Kafka frames it."""
    raw = bytes(data)
    if codec == NONE:
        return raw
    cramjam = _cramjam()
    if codec == GZIP:
        return bytes(cramjam.gzip.compress(raw))
    if codec == SNAPPY:
        # Raw, not xerial-framed: some clients (librdkafka-based ones read both) cannot read
        # the framing, and Java's SnappyInputStream reads raw snappy too.
        return bytes(cramjam.snappy.compress_raw(raw))
    if codec == LZ4:
        return bytes(cramjam.lz4.compress(raw))
    if codec == ZSTD:
        return bytes(cramjam.zstd.compress(raw))
    raise StorageError(f"unknown compression codec {codec}; use 0-4 ({', '.join(CODECS)})")


def decompress(codec: int, data) -> bytes:
    """The records section of a batch compressed with ``codec`` (attributes & 0x07), decompressed.

    Raises StorageError for a codec Kafka does not have, CorruptRecord when the bytes do not
    decompress.
    """
    name = COMPRESSION_NAMES.get(codec)
    if name is None or codec == NONE:
        raise StorageError(
            f"a batch names compression codec {codec}; Kafka's are 1-4 ({', '.join(CODECS)})"
        )
    try:
        return _decompress(codec, bytes(data))
    except Exception as exc:  # cramjam raises DecompressionError, struct.error on bad framing
        raise CorruptRecord(
            f"the {name}-compressed records cannot be decompressed ({exc})"
        ) from None


def _decompress(codec: int, raw: bytes) -> bytes:
    cramjam = _cramjam()
    if codec == GZIP:
        return bytes(cramjam.gzip.decompress(raw))
    if codec == SNAPPY:
        if not raw.startswith(_XERIAL_HEADER[:8]):
            return bytes(cramjam.snappy.decompress_raw(raw))
        out = []
        pos = len(_XERIAL_HEADER)
        while pos < len(raw):
            (n,) = _INT32.unpack_from(raw, pos)
            if n < 0 or pos + 4 + n > len(raw):
                raise ValueError(f"a snappy block of {n} bytes runs past the end of the batch")
            out.append(bytes(cramjam.snappy.decompress_raw(raw[pos + 4 : pos + 4 + n])))
            pos += 4 + n
        return b"".join(out)
    if codec == LZ4:
        return bytes(cramjam.lz4.decompress(raw))
    return bytes(cramjam.zstd.decompress(raw))
