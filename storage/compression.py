"""Compression codecs of RecordBatch v2: gzip, snappy, lz4 and zstd, for reading and writing.

gzip comes from the standard library, snappy, lz4 and zstd from cramjam (one wheel for all
three), imported only when a batch compressed with them is read or written.  The formats are
the ones Kafka's clients exchange: gzip with its header, raw snappy when written (xerial
framing, as Java producers write it, is read too), the LZ4 frame format, zstd frames.
"""

from __future__ import annotations

import gzip
import struct
import zlib

from storage.constants import COMPRESSION_NAMES
from storage.errors import CorruptRecord, StorageError


def decompress(codec: int, data) -> bytes:
    """The records section of a batch compressed with ``codec`` (attributes & 0x07), decompressed.

    Raises StorageError when the codec's Python package is missing, CorruptRecord when the
    bytes do not decompress.
    """
    name = COMPRESSION_NAMES.get(codec, f"codec {codec}")
    try:
        decompressor = _decompressor(codec)
    except ImportError:
        decompressor = None
    if decompressor is None:
        raise StorageError(
            f"this batch is compressed with {name}, which kcli cannot read; Kafka's codecs are "
            f"gzip, snappy, lz4 and zstd (reinstall kcli if cramjam is missing)"
        )
    try:
        return decompressor(bytes(data))
    except Exception as exc:  # each codec library raises its own error type
        raise CorruptRecord(
            f"the {name}-compressed records cannot be decompressed ({exc})"
        ) from None


def compress(codec: int, data) -> bytes:
    """``data`` (a batch's records section) compressed with ``codec`` (1 gzip, 2 snappy,
    3 lz4, 4 zstd).  Raises StorageError for another codec or a missing package."""
    name = COMPRESSION_NAMES.get(codec, f"codec {codec}")
    try:
        compressor = _compressor(codec)
    except ImportError:
        compressor = None
    if compressor is None:
        raise StorageError(
            f"kcli cannot compress with {name}; Kafka's codecs are gzip, snappy, lz4 and zstd"
        )
    return compressor(bytes(data))


def _compressor(codec: int):
    if codec == 1:
        return lambda raw: gzip.compress(raw, compresslevel=6, mtime=0)
    if codec in (2, 3, 4):
        import cramjam

        module = {2: cramjam.snappy, 3: cramjam.lz4, 4: cramjam.zstd}[codec]
        compress = module.compress_raw if codec == 2 else module.compress
        return lambda raw: bytes(compress(raw))
    return None


def _decompressor(codec: int):
    if codec == 1:
        return lambda raw: zlib.decompress(raw, 16 + zlib.MAX_WBITS)
    if codec == 2:
        import cramjam

        def unsnappy(raw: bytes) -> bytes:
            if not raw.startswith(b"\x82SNAPPY\x00"):
                return bytes(cramjam.snappy.decompress_raw(raw))
            # xerial framing, as Java producers write it
            out = []
            pos = 16
            while pos < len(raw):
                (n,) = struct.unpack_from(">i", raw, pos)
                out.append(bytes(cramjam.snappy.decompress_raw(raw[pos + 4 : pos + 4 + n])))
                pos += 4 + n
            return b"".join(out)

        return unsnappy
    if codec == 3:
        import cramjam

        return lambda raw: bytes(cramjam.lz4.decompress(raw))
    if codec == 4:
        import cramjam

        return lambda raw: bytes(cramjam.zstd.decompress(raw))
    return None
