"""The read path of a partition's ``Log``: whole CRC-checked batches from an offset
(``read``, as a Fetch response carries them), decoded records (``read_records``) and the
offset for a timestamp (``offset_for_time``).

Readers take no lock: they never read the active segment past the last complete batch this
process has seen (``Log.refresh``), and retry when retention in another process deletes a
segment under them.  ``Log`` owns one ``LogReader`` and hands it its ``LogSegments``.
"""

from __future__ import annotations

import bisect
import os
import struct
from collections.abc import Callable

from storage.constants import (
    ATTRIBUTES_POS,
    BATCH_HEADER_SIZE,
    CRC_POS,
    LAST_OFFSET_DELTA_POS,
    LOG_OVERHEAD,
    MAGIC,
)
from storage.crc import crc32c
from storage.errors import CorruptRecord, OffsetOutOfRange, StorageError
from storage.log_segments import LogSegments
from storage.log_types import FetchResult, _SegmentGone
from storage.point_read import PointReader, decode_span, read_header
from storage.record_decode import cycle_collector_paused
from storage.records import Record, decode_batch_at
from storage.segment import LOOKUP_CHUNK, TornTail

DEFAULT_FETCH_BYTES = 1 << 20
# Below this many records wanted, read_records fetches one batch at a time.
_POINT_READ_RECORDS = 64
_BASE_OFFSET = struct.Struct(">q")
_INT32 = struct.Struct(">i")
_CRC = struct.Struct(">I")


class LogReader:
    """Reads one partition's segments: read, read_records, offset_for_time.

    ``refresh`` brings the segments up to date (``Log.refresh``); ``mutex`` is the log's,
    held while the segments are looked at.
    """

    def __init__(self, segments: LogSegments, refresh: Callable[[], None], mutex):
        self._segs = segments
        self._refresh = refresh
        self._mutex = mutex
        self._points = PointReader()
        self._points_for: tuple | None = None  # (segments list, changes) the caches describe

    @property
    def name(self) -> str:
        return self._segs.name

    def _check_offset(self, offset: int) -> None:
        start = self._segs.log_start_offset
        end = self._segs.log_end_offset
        if offset < start or offset > end:
            raise OffsetOutOfRange(
                f"offset {offset} is out of range for {self.name}: valid offsets are "
                f"{start}..{end} (log_start_offset..log_end_offset)",
                offset=offset,
                log_start_offset=start,
                log_end_offset=end,
            )

    def _fetch(self, offset: int, max_bytes: int) -> list[tuple[bytes, int, int]]:
        """Refresh, then (buffer, position, size) of whole, CRC-checked batches from the one
        holding ``offset``: about ``max_bytes`` of them, at least one."""
        for _attempt in range(3):
            self._refresh()
            self._check_offset(offset)
            try:
                return self._read_locked(offset, max_bytes)
            except _SegmentGone:
                continue  # retention in another process: look again
        raise StorageError(f"{self.name}: segments keep disappearing while reading")

    def _read_locked(self, offset: int, max_bytes: int) -> list[tuple[bytes, int, int]]:
        segs = self._segs
        pieces: list[tuple[bytes, int, int]] = []
        if offset >= segs.log_end_offset:
            return pieces
        i = bisect.bisect_right(segs.bases, offset) - 1
        last = len(segs.segments) - 1
        total = 0
        while 0 <= i <= last:
            seg = segs.segments[i]
            fd = segs.read_fd(seg)
            # Never past the last complete batch seen in the active segment: what follows may
            # be a batch still being written.
            limit = segs.end_position if i == last else os.fstat(fd).st_size
            found = seg.find_batch(fd, offset, limit)
            if found is None or found.position >= limit:
                i += 1
                if i <= last:
                    offset = segs.segments[i].base_offset
                continue
            position = found.position
            if found.header.size > limit - position:
                raise CorruptRecord(
                    f"{seg.log_path}: the batch at byte position {position} claims "
                    f"{found.header.size} bytes, past the end of the complete batches ({limit})"
                )
            budget = max_bytes - total
            if not pieces and budget < found.header.size:
                budget = found.header.size  # at least one whole batch, as Kafka's Fetch
            budget = min(budget, limit - position)
            if budget < BATCH_HEADER_SIZE:
                break
            data = os.pread(fd, budget, position)
            pos = 0
            end = len(data)
            while pos + BATCH_HEADER_SIZE <= end:
                size = _INT32.unpack_from(data, pos + 8)[0] + LOG_OVERHEAD
                if size < BATCH_HEADER_SIZE or data[pos + 16] != MAGIC:
                    raise CorruptRecord(
                        f"{seg.log_path}: no valid batch header at byte position "
                        f"{position + pos} (magic {data[pos + 16]}, batchLength {size - 12})"
                    )
                if pos + size > end:
                    break
                crc = crc32c(memoryview(data)[pos + ATTRIBUTES_POS : pos + size])
                if crc != _CRC.unpack_from(data, pos + CRC_POS)[0]:
                    raise CorruptRecord(
                        f"{seg.log_path}: CRC-32C mismatch in the batch at byte position "
                        f"{position + pos}"
                    )
                pieces.append((data, pos, size))
                total += size
                pos += size
            if pos < end or total >= max_bytes:
                break
            # This segment is exhausted: continue in the next one.
            i += 1
            if i <= last:
                offset = segs.segments[i].base_offset
        return pieces

    def read(self, offset: int, max_bytes: int = DEFAULT_FETCH_BYTES) -> FetchResult:
        """Whole batches starting with the one holding ``offset``, about ``max_bytes`` of them.

        At least one batch is returned even if it is larger than ``max_bytes`` (as Kafka's
        Fetch does), so a consumer always makes progress.  Empty at the log end offset.
        """
        with self._mutex:
            pieces = self._fetch(offset, max_bytes)
            return FetchResult(
                _join(pieces), self._segs.log_end_offset, self._segs.log_start_offset
            )

    def read_records(
        self, offset: int, max_records: int | None = None, max_bytes: int = DEFAULT_FETCH_BYTES
    ) -> list[Record]:
        """Decoded records from ``offset`` on (at most ``max_records``); [] at the end.

        Without ``max_records``, what one fetch of ``max_bytes`` returns.  With a small
        ``max_records`` only the batches needed are read and decoded, so a point read costs
        one index lookup and one batch, however long the partition.
        """
        out: list[Record] = []
        while True:
            want = max_bytes
            if max_records is not None and max_records - len(out) < _POINT_READ_RECORDS:
                want = 1
                with self._mutex:
                    found = self._point_records(offset, max_records - len(out))
                if found is not None:
                    if not found:
                        return out
                    out += found
                    if len(out) >= max_records:
                        return out
                    offset = found[-1].offset + 1
                    continue
            with self._mutex:
                pieces = self._fetch(offset, want)
            if not pieces:
                return out
            with cycle_collector_paused():
                for buf, pos, size in pieces:
                    limit = None if max_records is None else max_records - len(out)
                    out += decode_batch_at(buf, pos, size, min_offset=offset, max_records=limit)
                    if limit is not None and len(out) >= max_records:
                        return out
            if max_records is None:
                return out
            buf, pos, _size = pieces[-1]
            base = _BASE_OFFSET.unpack_from(buf, pos)[0]
            offset = max(offset, base + _INT32.unpack_from(buf, pos + LAST_OFFSET_DELTA_POS)[0] + 1)

    def _point_records(self, offset: int, wanted: int) -> list[Record] | None:
        """Up to ``wanted`` records from ``offset`` out of the one batch holding it, reading
        only their bytes (``storage.point_read``); [] at the log end; None when this batch
        must be read whole (compressed, a control batch, an offset in a compacted gap, an
        index that does not lead to it)."""
        segs = self._segs
        if segs.log_start_offset <= offset < segs.log_end_offset and segs.listing_current():
            # Already known to be written, in a segment that is still there: no need to look
            # for appends made since.
            try:
                found = self._point_locked(offset, wanted)
            except _SegmentGone:
                found = None
            if found:
                return found
        for _attempt in range(3):
            self._refresh()
            self._check_offset(offset)
            try:
                return self._point_locked(offset, wanted)
            except _SegmentGone:
                continue
        raise StorageError(f"{self.name}: segments keep disappearing while reading")

    def _point_locked(self, offset: int, wanted: int) -> list[Record] | None:
        segs = self._segs
        if offset >= segs.log_end_offset:
            return []
        if self._points_for != (segs.segments, segs.changes):
            # Segments added, removed or replaced, or files renamed (a cleaner's swap keeps
            # the base offsets): what the caches describe may be gone.
            self._points.forget()
            self._points_for = (segs.segments, segs.changes)
        i = bisect.bisect_right(segs.bases, offset) - 1
        if i < 0:
            return None
        last = len(segs.segments) - 1
        seg = segs.segments[i]
        fd = segs.read_fd(seg)
        likely, position = self._points.start_positions(seg.offset_index, offset, i == last)
        header = read_header(fd, likely)
        if header is None or not _holds(header, offset):
            # Walk batch headers from the entry below: a few steps at most.
            for _step in range(16):
                header = read_header(fd, position)
                if header is None:
                    return None
                base = _BASE_OFFSET.unpack_from(header, 0)[0]
                if base + _INT32.unpack_from(header, LAST_OFFSET_DELTA_POS)[0] >= offset:
                    break
                position += _INT32.unpack_from(header, 8)[0] + LOG_OVERHEAD
            else:
                return None
        else:
            position = likely
        size = _INT32.unpack_from(header, 8)[0] + LOG_OVERHEAD
        if i == last and position + size > segs.end_position:
            return None  # not known to be complete: the whole-batch path judges it
        if _BASE_OFFSET.unpack_from(header, 0)[0] > offset:
            return None  # the offset is in a gap (compaction)
        layout = self._points.layout(seg, fd, position, header)
        if layout is None:
            return None
        first = offset - layout.base_offset
        return decode_span(fd, position, layout, first, min(layout.count, first + wanted))

    def offset_for_time(self, timestamp: int) -> int | None:
        """The earliest offset whose record timestamp is >= ``timestamp`` (None: none is)."""
        with self._mutex:
            for _attempt in range(3):
                self._refresh()
                try:
                    return self._offset_for_time(timestamp)
                except _SegmentGone:
                    continue
            raise StorageError(f"{self.name}: segments keep disappearing while reading")

    def _offset_for_time(self, timestamp: int) -> int | None:
        segs = self._segs
        last = len(segs.segments) - 1
        for i, seg in enumerate(segs.segments):
            if segs.largest_timestamp(seg, i == last) < timestamp:
                continue
            fd = segs.read_fd(seg)
            entry = seg.time_index.lookup_below(timestamp)
            start_offset = entry[1] + 1 if entry else seg.base_offset
            found = seg.find_batch(fd, start_offset)
            if found is None:
                continue
            end = segs.end_position if i == last else None
            for item in seg.iter_batches(fd, found.position, end, chunk=LOOKUP_CHUNK):
                if isinstance(item, TornTail):
                    break
                if item.header.max_timestamp < timestamp:
                    continue
                batch = os.pread(fd, item.header.size, item.position)
                for record in decode_batch_at(batch, 0, len(batch)):
                    if record.timestamp >= timestamp:
                        return record.offset
        return None


def _holds(header: bytes, offset: int) -> bool:
    """Does the batch with these header bytes end at or after ``offset``, starting at or
    before it?"""
    base = _BASE_OFFSET.unpack_from(header, 0)[0]
    return base <= offset <= base + _INT32.unpack_from(header, LAST_OFFSET_DELTA_POS)[0]


def _join(pieces: list[tuple[bytes, int, int]]) -> bytes:
    """The pieces' bytes as one object, without a copy when they are one whole buffer."""
    if not pieces:
        return b""
    buf, start, _ = pieces[0]
    last_buf, last_pos, last_size = pieces[-1]
    if last_buf is buf:
        end = last_pos + last_size
        return buf if start == 0 and end == len(buf) else buf[start:end]
    return b"".join(memoryview(b)[p : p + s] for b, p, s in pieces)
