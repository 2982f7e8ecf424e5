"""Point reads that cost what they must: a few records at an offset, without reading,
checking or decoding the whole batch that holds them.

``PointReader`` keeps, per process:

- every segment's offset index in memory (two lists, searched with ``bisect``): a sealed
  segment's index never changes, and the active segment's is re-read only from where this
  process stopped, when an offset past its last cached entry is asked for;
- for each batch already read, its 61 header bytes and where its records start
  (``BatchLayout``): a batch of records of one shape (the common case) as a few strided runs,
  any other batch as a list of record positions, found once by the records' varint lengths.
  The whole batch's CRC is checked once, when its layout is first computed.

A read then costs two ``pread`` calls: the batch header, compared with the cached one (equal
bytes, CRC included, mean the same batch: a truncated and rewritten tail is never mistaken
for the old one), and the bytes of the records asked for, which alone are decoded.
Compressed and control batches are not handled here (``layout`` returns None): the caller
reads them whole.
"""

from __future__ import annotations

import bisect
import os
from typing import NamedTuple

from storage.constants import (
    ATTRIBUTES_POS,
    BATCH_HEADER_SIZE,
    COMPRESSION_MASK,
    CONTROL_MASK,
    LOG_OVERHEAD,
    MAGIC,
    TIMESTAMP_TYPE_MASK,
)
from storage.crc import crc32c
from storage.errors import CorruptRecord
from storage.offset_index import OffsetIndex
from storage.record_batch import HEADER, Record
from storage.record_decode import _decode_records, _uniform_runs, _uniform_shape
from storage.varint import decode_varint

# Batches whose layout is remembered; past this many the oldest half is forgotten.
_MAX_LAYOUTS = 4096


class BatchLayout(NamedTuple):
    """Where the records of one checked batch start, relative to the batch's first byte."""

    header: bytes  # the 61 header bytes the layout was computed for
    base_offset: int
    count: int
    size: int
    base_timestamp: int
    log_append_time: int  # -1: CreateTime
    runs: tuple | None  # uniform batch: (lo, n, pos, stride, value distance) runs
    positions: list[int] | None  # any other batch: count + 1 record boundaries
    uniform: tuple[int, int, int, int] | None  # uniform: key length (-1 null), key bytes,
    # value-length varint bytes, value length

    def span(self, first: int, last: int) -> tuple[int, int]:
        """Byte range (relative to the batch) of records ``first``..``last``-1."""
        if self.positions is not None:
            return self.positions[first], self.positions[last]
        return self._at(first), self._at(last)

    def _at(self, i: int) -> int:
        if i >= self.count:
            return self.size
        for lo, n, pos, stride, _value in self.runs:
            if i < lo + n:
                return pos + (i - lo) * stride
        return self.size


class _CachedIndex:
    __slots__ = ("offsets", "positions", "entries_read")

    def __init__(self) -> None:
        self.offsets: list[int] = []
        self.positions: list[int] = []
        self.entries_read = 0


class PointReader:
    """The in-memory indexes and batch layouts of one partition, for ``LogReader``."""

    def __init__(self) -> None:
        self._indexes: dict[int, _CachedIndex] = {}
        self._layouts: dict[tuple[int, int], BatchLayout] = {}

    def forget(self) -> None:
        self._indexes.clear()
        self._layouts.clear()

    def forget_segment(self, base_offset: int) -> None:
        self._indexes.pop(base_offset, None)
        for key in [k for k in self._layouts if k[0] == base_offset]:
            del self._layouts[key]

    # -- the index ------------------------------------------------------------------------

    def _index(self, index: OffsetIndex, offset: int, active: bool) -> _CachedIndex:
        cached = self._indexes.get(index.base_offset)
        if cached is None:
            cached = self._indexes[index.base_offset] = _CachedIndex()
            self._read_index(index, cached)
        elif active and (not cached.offsets or cached.offsets[-1] < offset):
            self._read_index(index, cached)
        return cached

    @staticmethod
    def _read_index(index: OffsetIndex, cached: _CachedIndex) -> None:
        """Read the entries past those already cached (an index only grows between
        recoveries; a shorter file than cached starts again)."""
        try:
            fd = os.open(index.path, os.O_RDONLY)
        except FileNotFoundError:
            return
        try:
            size = os.fstat(fd).st_size
            count = size // index.entry_size
            if count < cached.entries_read:
                cached.offsets.clear()
                cached.positions.clear()
                cached.entries_read = 0
            if count == cached.entries_read:
                return
            start = cached.entries_read * index.entry_size
            data = os.pread(fd, count * index.entry_size - start, start)
        finally:
            os.close(fd)
        base = index.base_offset
        usable = len(data) - len(data) % index.entry_size
        for rel, position in index.entry.iter_unpack(data[:usable]):
            cached.offsets.append(base + rel)
            cached.positions.append(position)
        cached.entries_read += usable // index.entry_size

    def start_positions(self, index: OffsetIndex, offset: int, active: bool) -> tuple[int, int]:
        """(likely position, safe position): the batch an entry says holds ``offset`` (the
        first entry naming an offset >= it) and the one to scan from if it does not."""
        cached = self._index(index, offset, active)
        j = bisect.bisect_left(cached.offsets, offset)
        safe = cached.positions[j - 1] if j > 0 else 0
        likely = cached.positions[j] if j < len(cached.positions) else safe
        return likely, safe

    # -- batches --------------------------------------------------------------------------

    def layout(self, seg, fd: int, position: int, header: bytes) -> BatchLayout | None:
        """The layout of the batch at ``position`` in segment ``seg`` whose header bytes are
        ``header``; its CRC is checked the first time.  None for a compressed or control
        batch."""
        key = (seg.base_offset, position)
        found = self._layouts.get(key)
        if found is not None and found.header == header:
            return found
        (
            base_offset,
            length,
            _epoch,
            _magic,
            crc,
            attributes,
            _last_delta,
            base_ts,
            max_ts,
            _pid,
            _pepoch,
            _seq,
            count,
        ) = HEADER.unpack(header)
        if attributes & (COMPRESSION_MASK | CONTROL_MASK) or count <= 0:
            return None
        size = length + LOG_OVERHEAD
        batch = os.pread(fd, size, position)
        if len(batch) < size:
            return None
        if crc32c(memoryview(batch)[ATTRIBUTES_POS:]) != crc:
            raise CorruptRecord(
                f"{seg.log_path}: CRC-32C mismatch in the batch at byte position {position}"
            )
        runs = positions = uniform = None
        shape = _uniform_shape(batch, BATCH_HEADER_SIZE, size)
        if shape is not None:
            found_runs = _uniform_runs(batch, BATCH_HEADER_SIZE, size, shape, count)
            if found_runs and found_runs[-1].pos + found_runs[-1].n * found_runs[-1].stride == size:
                # Within a run a record is the same bytes at the same places: its key and
                # value sit at fixed distances from its start.
                kl = shape.key_length
                uniform = (
                    kl,
                    kl if kl > 0 else 0,
                    len(shape.value_length_bytes),
                    shape.value_length,
                )
                runs = tuple((r.lo, r.n, r.pos, r.stride, r.value_pos - r.pos) for r in found_runs)
        if runs is None:
            positions = _record_positions(batch, size, count)
            if positions is None:
                return None
        layout = BatchLayout(
            header,
            base_offset,
            count,
            size,
            base_ts,
            max_ts if attributes & TIMESTAMP_TYPE_MASK else -1,
            runs,
            positions,
            uniform,
        )
        if len(self._layouts) >= _MAX_LAYOUTS:
            for old in list(self._layouts)[: _MAX_LAYOUTS // 2]:
                del self._layouts[old]
        self._layouts[key] = layout
        return layout


def read_header(fd: int, position: int) -> bytes | None:
    """The 61 header bytes at ``position`` if they start a magic-2 batch."""
    header = os.pread(fd, BATCH_HEADER_SIZE, position)
    if len(header) < BATCH_HEADER_SIZE or header[16] != MAGIC:
        return None
    return header


def decode_span(fd: int, position: int, layout: BatchLayout, first: int, last: int) -> list[Record]:
    """Records ``first``..``last``-1 of the batch at ``position``, reading only their bytes."""
    start, end = layout.span(first, last)
    data = os.pread(fd, end - start, position + start)
    if layout.uniform is not None and len(data) == end - start:
        for lo, n, _pos, stride, value_at in layout.runs:
            if lo <= first and last <= lo + n:  # one run: one stride
                return _cut_uniform(data, layout, first, last, stride, value_at)
    records = _decode_records(
        data,
        0,
        len(data),
        layout.base_offset,
        layout.base_timestamp,
        layout.log_append_time,
        0,
        last - first,
    )
    if len(records) != last - first or records[0].offset != layout.base_offset + first:
        raise CorruptRecord(
            f"the batch at base offset {layout.base_offset} does not hold offsets "
            f"{layout.base_offset + first}..{layout.base_offset + last - 1} in order"
        )
    return records


def _cut_uniform(
    data: bytes, layout: BatchLayout, first: int, last: int, stride: int, value_at: int
) -> list[Record]:
    """Records ``first``..``last``-1 of one run of a checked uniform batch, cut from their
    bytes by arithmetic (every byte but keys and values was checked when the layout was
    made)."""
    kl, key_bytes, value_length_bytes, vl = layout.uniform
    key_at = value_at - value_length_bytes - key_bytes
    ts = layout.base_timestamp if layout.log_append_time < 0 else layout.log_append_time
    new = tuple.__new__
    offset = layout.base_offset + first
    out = []
    for p in range(0, (last - first) * stride, stride):
        key = None if kl < 0 else data[p + key_at : p + key_at + kl]
        out.append(new(Record, (offset, ts, key, data[p + value_at : p + value_at + vl], ())))
        offset += 1
    return out


def _record_positions(batch: bytes, size: int, count: int) -> list[int] | None:
    """The boundaries of ``count`` records by their varint lengths (count + 1 positions),
    or None unless they end exactly at the batch's end with offset deltas 0..count-1 (a
    compacted batch has gaps: the caller reads it whole)."""
    pos = BATCH_HEADER_SIZE
    out = [pos]
    try:
        for i in range(count):
            length, start = decode_varint(batch, pos)
            pos = start + length
            if length < 0 or pos > size:
                return None
            _ts_delta, q = decode_varint(batch, start + 1)
            delta, _q = decode_varint(batch, q)
            if delta != i:
                return None
            out.append(pos)
    except (IndexError, CorruptRecord):
        return None
    return out if pos == size else None
