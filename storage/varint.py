"""Zigzag varints, as RecordBatch v2 encodes every record field's length and delta.

Varints of small numbers (every length of a small key or value, every offset delta in a batch
of up to 16k records) are looked up in a table built once at import; the table's byte columns
(``G0``..``G2``) are also what the decoder's uniform fast path compares strided slices with.
"""

from __future__ import annotations

from storage.errors import CorruptRecord


def zigzag_varint_uncached(n: int) -> bytes:
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
VARINT_TABLE_SIZE = 1 << 14


def _varint_groups() -> tuple[bytes, bytes, bytes, bytes, bytes]:
    """Byte k of the zigzag varint of every n in 0..16383, one bytes object per k.

    zigzag(n) = 2n for n >= 0, cut into 7-bit groups, lowest first; every byte of a varint
    but its last has the high bit set.  Built with bytes operations in C: computing 16k
    varints one by one would cost every kcli command ~15 ms of start-up.
    """
    with_more = bytes(range(128, 256)) * 2  # a translate table that sets the high bit
    group0 = bytes(range(0, 128, 2)) * (VARINT_TABLE_SIZE // 64)  # (2n) & 0x7F
    group1 = b"".join(bytes((g,)) * 64 for g in range(128)) * 2  # (2n >> 7) & 0x7F
    group2 = bytes(8192) + b"\x01" * 8192  # 2n >> 14
    return group0, group0.translate(with_more), group1, group1.translate(with_more), group2


G0, G0_MORE, G1, G1_MORE, G2 = _varint_groups()
VARINT = (
    [bytes((b,)) for b in G0[:64]]  # n < 64: one byte
    + list(map(bytes, zip(G0_MORE[64:8192], G1[64:8192], strict=True)))  # n < 8192: two
    + list(map(bytes, zip(G0_MORE[8192:], G1_MORE[8192:], G2[8192:], strict=True)))  # three
)
NULL = zigzag_varint_uncached(-1)  # length -1: a null key or value


def zigzag_varint(n: int) -> bytes:
    """Encode one signed integer as a zigzag varint."""
    if 0 <= n < VARINT_TABLE_SIZE:
        return VARINT[n]
    return zigzag_varint_uncached(n)


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
