"""Compression codecs of RecordBatch v2: gzip, snappy, lz4 and zstd, for reading batches.

kcli writes uncompressed batches but reads what Java and librdkafka producers write.  gzip
comes from the standard library; the other codecs' packages are imported only when a batch
compressed with them is read, so a missing package costs nothing until then.
"""

from __future__ import annotations

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
            f"this batch is compressed with {name}; install the Python package for {name} "
            f"(python-snappy, lz4 or zstandard) to read it"
        )
    try:
        return decompressor(bytes(data))
    except Exception as exc:  # each codec library raises its own error type
        raise CorruptRecord(
            f"the {name}-compressed records cannot be decompressed ({exc})"
        ) from None


def _decompressor(codec: int):
    if codec == 1:
        return lambda raw: zlib.decompress(raw, 16 + zlib.MAX_WBITS)
    if codec == 2:
        import snappy  # type: ignore[import-not-found]

        def unsnappy(raw: bytes) -> bytes:
            if not raw.startswith(b"\x82SNAPPY\x00"):
                return snappy.decompress(raw)
            # xerial framing, as Java producers write it
            out = []
            pos = 16
            while pos < len(raw):
                (n,) = struct.unpack_from(">i", raw, pos)
                out.append(snappy.decompress(raw[pos + 4 : pos + 4 + n]))
                pos += 4 + n
            return b"".join(out)

        return unsnappy
    if codec == 3:
        import lz4.frame  # type: ignore[import-not-found]

        return lz4.frame.decompress
    if codec == 4:
        import zstandard  # type: ignore[import-not-found]

        return lambda raw: zstandard.ZstdDecompressor().decompressobj().decompress(raw)
    return None
