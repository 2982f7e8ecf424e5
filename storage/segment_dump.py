"""A segment file batch by batch, as Kafka's ``kafka-dump-log`` (DumpLogSegments) shows it:
what ``kcli log dump`` renders.  Reads the files only."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

from storage.log_types import SegmentInfo
from storage.records import compute_crc, decode_batch, record_offset_positions
from storage.segment import Segment, TornTail


@dataclass(frozen=True)
class BatchDump:
    """One RecordBatch as found in a segment file."""

    segment: str
    position: int
    header: object  # storage.records.BatchHeader
    crc_valid: bool
    records: list  # (offset, position in the file, Record) when asked for

    @property
    def size(self) -> int:
        return self.header.size


@dataclass(frozen=True)
class TornTailDump:
    """Bytes at the end of the last segment that are not a whole batch (a killed writer)."""

    segment: str
    position: int
    size: int


def walk_segment(seg: SegmentInfo, *, with_records: bool) -> Iterator[BatchDump | TornTailDump]:
    """Yield a BatchDump per batch of the segment file, and a TornTailDump if it ends in one.
    Only reads: a batch with a bad CRC is reported (``crc_valid``), never repaired."""
    segment = Segment(seg.path.parent, seg.base_offset)
    try:
        fd = os.open(seg.path, os.O_RDONLY)
    except FileNotFoundError:
        return  # removed by retention since the listing
    try:
        for item in segment.iter_batches(fd, 0):
            if isinstance(item, TornTail):
                yield TornTailDump(seg.path.name, item.position, item.size)
                return
            position, header = item
            data = os.pread(fd, header.size, position)
            valid = compute_crc(data) == header.crc
            found = []
            if with_records and valid:
                positions = dict(record_offset_positions(data))
                for record in decode_batch(data):
                    rel = positions.get(record.offset, -1)
                    found.append((record.offset, -1 if rel < 0 else position + rel, record))
            yield BatchDump(seg.path.name, position, header, valid, found)
    finally:
        os.close(fd)


def index_entries(seg: SegmentInfo) -> tuple[list, list]:
    """The segment's offset index and time index entries, as their files hold them."""
    segment = Segment(seg.path.parent, seg.base_offset)
    return segment.offset_index.entries(), segment.time_index.entries()


def dump_segments(
    segments: list[SegmentInfo], *, with_records: bool, with_index: bool
) -> Iterator[tuple[SegmentInfo, tuple[list, list] | None, Iterator[BatchDump | TornTailDump]]]:
    """Each segment with its index entries (``with_index``) and its batches, read lazily."""
    for seg in segments:
        entries = index_entries(seg) if with_index else None
        yield seg, entries, walk_segment(seg, with_records=with_records)
