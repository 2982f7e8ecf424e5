"""`kcli log`: look inside a partition's segment files, like Kafka's kafka-dump-log."""

from dataclasses import dataclass

import typer

from kcli.commands._common import Output, output_option, require_local, store

app = typer.Typer(
    help="Look inside a partition's files: segments, batches, records and indexes.",
    no_args_is_help=True,
)


@app.command("dump")
def dump(
    topic: str = typer.Argument(..., help="Topic to inspect.", metavar="TOPIC"),
    partition: int = typer.Option(
        0, "--partition", "-p", help="Partition to inspect.", metavar="P"
    ),
    records: bool = typer.Option(
        False, "--records", help="Show every record of every batch.", metavar=""
    ),
    index: bool = typer.Option(
        False,
        "--index",
        help="Show the offset index (offset -> byte position) and time index entries: what a "
        "read at an offset or a time looks up first.",
        metavar="",
    ),
    output: Output | None = output_option(),
) -> None:
    """Show each segment file of a partition, batch by batch: base and last offset, byte position, size, CRC-32C and whether it is valid, timestamps and record count.

    Like Kafka's kafka-dump-log. A batch whose CRC does not match is shown as invalid (and reported on stderr); the file is only read, never changed.
    """
    from kcli import render

    require_local("log dump")  # a cluster's files are on its brokers, not here
    form = render.resolve(output)
    log = store().log(topic, partition)
    segments = log.segments()
    total = sum(s.size_bytes for s in segments)
    out = render.LogDump(form, topic, partition, show_records=records)
    try:
        _dump(out, segments, topic, partition, total, index=index, records=records)
    except BrokenPipeError:
        render.reader_left()
        return
    out.finish()


def _dump(out, segments, topic, partition, total, *, index, records) -> None:
    from kcli import render

    # Offsets the log cleaner removed show as gaps: between batches, and between segments.
    expected = segments[0].base_offset if segments else 0
    with render.progress(f"Reading {topic}-{partition}", total, "bytes") as bar:
        for seg in segments:
            out.segment(seg)
            if index:
                out.index(seg, _index_entries(seg))
            for item in walk_segment(seg, with_records=records):
                if isinstance(item, BatchDump):
                    if item.header.base_offset > expected:
                        out.gap(expected, item.header.base_offset - 1)
                    expected = item.header.next_offset
                    out.batch(item)
                    bar.advance(item.size)
                else:
                    out.torn_tail(item)
            if not seg.active and seg.next_offset > expected:
                out.gap(expected, seg.next_offset - 1)
                expected = seg.next_offset
            out.end_segment()


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


def walk_segment(seg, *, with_records: bool):
    """Yield a BatchDump per batch of the segment file, and a TornTailDump if it ends in one."""
    import os

    from storage.records import compute_crc, decode_batch, record_offset_positions
    from storage.segment import Segment, TornTail

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


def _index_entries(seg):
    from storage.segment import Segment

    segment = Segment(seg.path.parent, seg.base_offset)
    return segment.offset_index.entries(), segment.time_index.entries()
