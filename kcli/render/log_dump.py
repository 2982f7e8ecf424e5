"""``kcli log dump``: the segment files, their indexes and batches, as plain lines like
kafka-dump-log, JSON Lines with a "type" field, or rich tables."""

# Start-up: kcli.render is imported by every command that prints, a one-record `kcli produce`
# included, so rich's tables, text and live views are imported where they are used.

from __future__ import annotations

import sys
from datetime import datetime

from kcli.render.output import (
    JSON,
    PLAIN,
    TABLE,
    console,
    human_bytes,
    json_line,
    line,
    note,
    table,
)
from kcli.render.records import _show, record_json_slow


def _short_time(ms: int) -> str:
    if ms is None or ms < 0:
        return "-"
    return datetime.fromtimestamp(ms / 1000).strftime("%m-%d %H:%M:%S")


class LogDump:
    """Renders ``kcli log dump`` as it walks the files: plain lines like kafka-dump-log,
    JSON Lines with a "type" field, or rich tables."""

    def __init__(self, form: str, topic: str, partition: int, *, show_records: bool):
        self.form = form
        self.topic = topic
        self.partition = partition
        self.show_records = show_records
        self.invalid = 0
        self._rows: list = []
        self._seg = None

    def _dir(self) -> str:
        return f"{self.topic}-{self.partition}"

    def segment(self, seg) -> None:
        self._seg = seg
        self._rows = []
        name = seg.path.name
        if self.form == JSON:
            json_line(
                {
                    "type": "segment",
                    "segment": name,
                    "base_offset": seg.base_offset,
                    "next_offset": seg.next_offset,
                    "size_bytes": seg.size_bytes,
                    "active": seg.active,
                }
            )
        elif self.form == PLAIN:
            line(f"Dumping {self._dir()}/{name}")
            line(f"Log starting offset: {seg.base_offset}")
        else:
            from rich.text import Text

            count = seg.next_offset - seg.base_offset
            console().print(
                Text.assemble(
                    ("Segment ", "bold"),
                    (f"{self._dir()}/{name}", "bold cyan"),
                    f"  offsets {seg.base_offset}..{seg.next_offset - 1}" if count else "  empty",
                    f", {human_bytes(seg.size_bytes)}",
                    (", active" if seg.active else ", closed", "dim"),
                )
            )

    def index(self, seg, entries) -> None:
        offsets, times = entries
        base = seg.path.name[: -len(".log")]
        if self.form == JSON:
            for offset, position in offsets:
                json_line(
                    {
                        "type": "index",
                        "segment": base + ".index",
                        "offset": offset,
                        "position": position,
                    }
                )
            for timestamp, offset in times:
                json_line(
                    {
                        "type": "timeindex",
                        "segment": base + ".timeindex",
                        "timestamp": timestamp,
                        "offset": offset,
                    }
                )
        elif self.form == PLAIN:
            line(f"Dumping {self._dir()}/{base}.index")
            for offset, position in offsets:
                line(f"offset: {offset} position: {position}")
            line(f"Dumping {self._dir()}/{base}.timeindex")
            for timestamp, offset in times:
                line(f"timestamp: {timestamp} offset: {offset}")
        else:
            from rich.table import Table

            grid = Table.grid(padding=(0, 2))
            grid.add_column(style="bold", no_wrap=True)
            grid.add_column()
            grid.add_row(
                "  .index",
                ", ".join(f"offset {o} → byte {p}" for o, p in offsets)
                if offsets
                else "[dim]no entries yet (one per index.interval.bytes of log): a read in "
                "this segment scans from byte 0[/]",
            )
            grid.add_row(
                "  .timeindex",
                ", ".join(f"{_short_time(t)} → offset {o}" for t, o in times)
                if times
                else "[dim]no entries yet[/]",
            )
            console().print(grid)

    def batch(self, b) -> None:
        h = b.header
        if not b.crc_valid:
            self.invalid += 1
        if self.form == JSON:
            json_line(
                {
                    "type": "batch",
                    "segment": b.segment,
                    "base_offset": h.base_offset,
                    "last_offset": h.last_offset,
                    "count": h.records_count,
                    # Offsets inside the batch the log cleaner removed (its records keep
                    # their offsets, so count < last - base + 1).
                    "removed": h.last_offset_delta + 1 - h.records_count,
                    "position": b.position,
                    "size_bytes": h.size,
                    "crc": h.crc,
                    "crc_valid": b.crc_valid,
                    "magic": h.magic,
                    "compression": h.compression,
                    "timestamp_type": h.timestamp_type,
                    "base_timestamp": h.base_timestamp,
                    "max_timestamp": h.max_timestamp,
                    "producer_id": h.producer_id,
                    "producer_epoch": h.producer_epoch,
                    "base_sequence": h.base_sequence,
                    "partition_leader_epoch": h.partition_leader_epoch,
                    "is_transactional": h.is_transactional,
                    "is_control": h.is_control,
                }
            )
            # The record's JSON object with "type" and "position" put first, spliced as text
            # (the same bytes as parsing it and writing it again with json_line).
            for _offset, position, record in b.records:
                text = record_json_slow(self.topic, self.partition, record)
                sys.stdout.write(f'{{"type":"record","position":{position},{text[1:]}')
            return
        if self.form == PLAIN:
            last_seq = h.base_sequence + h.last_offset_delta if h.base_sequence >= 0 else -1
            line(
                f"baseOffset: {h.base_offset} lastOffset: {h.last_offset} count: "
                f"{h.records_count} baseSequence: {h.base_sequence} lastSequence: {last_seq} "
                f"producerId: {h.producer_id} producerEpoch: {h.producer_epoch} "
                f"partitionLeaderEpoch: {h.partition_leader_epoch} isTransactional: "
                f"{str(h.is_transactional).lower()} isControl: {str(h.is_control).lower()} "
                f"position: {b.position} {h.timestamp_type}: {h.max_timestamp} size: {h.size} "
                f"magic: {h.magic} compresscodec: {h.compression} crc: {h.crc} "
                f"isvalid: {str(b.crc_valid).lower()}"
            )
            for offset, _position, r in b.records:
                keys = ", ".join(k for k, _ in r.headers)
                payload = "" if r.value is None else _show(r.value)
                key = "" if r.key is None else f" key: {_show(r.key)}"
                line(
                    f"| offset: {offset} {h.timestamp_type}: {r.timestamp} keySize: "
                    f"{-1 if r.key is None else len(r.key)} valueSize: "
                    f"{-1 if r.value is None else len(r.value)} sequence: "
                    f"{h.base_sequence + offset - h.base_offset if h.base_sequence >= 0 else -1} "
                    f"headerKeys: [{keys}]{key} payload: {payload}"
                )
            return
        valid = "[green]yes[/]" if b.crc_valid else "[bold red]NO[/]"
        removed = h.last_offset_delta + 1 - h.records_count
        row = (
            str(h.base_offset),
            str(h.last_offset),
            f"{h.records_count} (-{removed})" if removed else str(h.records_count),
            str(b.position),
            str(h.size),
            f"{h.crc:08x}",
            valid,
            _short_time(h.max_timestamp),
        )
        if not self.show_records:
            self._rows.append(row)
            return
        self._flush_rows()
        con = console()
        con.print(
            f"  [bold]batch {h.base_offset}..{h.last_offset}[/]  position {b.position}, "
            f"{h.size} B, CRC {h.crc:08x} {valid}, {h.records_count} record"
            f"{'s' if h.records_count != 1 else ''}, {_short_time(h.max_timestamp)}"
        )
        from rich.markup import escape

        expected = h.base_offset
        for offset, position, r in b.records:
            if offset > expected:
                con.print(f"    [yellow]{_gap_text(expected, offset - 1)}[/]")
            expected = offset + 1
            key = "" if r.key is None else f"[cyan]{escape(_show(r.key))}[/] → "
            value = "[dim]null[/]" if r.value is None else escape(_show(r.value))
            headers = (
                "  [dim]["
                + escape(" ".join(f"{k}={_show(v or b'')}" for k, v in r.headers))
                + "][/]"
                if r.headers
                else ""
            )
            con.print(
                f"    [dim]offset[/] {offset:<6} [dim]pos[/] {position:<8} {key}{value}{headers}",
                overflow="ellipsis",
                no_wrap=True,
            )

    def _flush_rows(self) -> None:
        if self._rows:
            table(
                ["BASE", "LAST", "COUNT", "POSITION", "SIZE", "CRC-32C", "VALID", "MAX TIME"],
                self._rows,
                right=["BASE", "LAST", "COUNT", "POSITION", "SIZE"],
            )
            self._rows = []

    def gap(self, first: int, last: int) -> None:
        """Offsets ``first``..``last`` are in no batch: the log cleaner removed them."""
        if self.form == JSON:
            json_line({"type": "gap", "first_offset": first, "last_offset": last})
        elif self.form == PLAIN:
            line(f"Gap: offsets {first}..{last} removed by the log cleaner")
        else:
            self._flush_rows()
            console().print(f"  [yellow]{_gap_text(first, last)}[/]")

    def torn_tail(self, t) -> None:
        message = (
            f"{t.size} bytes at position {t.position} of {t.segment} are not a whole batch "
            f"(a write cut short); recovery truncates them"
        )
        if self.form == JSON:
            json_line(
                {
                    "type": "torn_tail",
                    "segment": t.segment,
                    "position": t.position,
                    "size_bytes": t.size,
                }
            )
        elif self.form == PLAIN:
            line(f"Incomplete batch at position: {t.position} size: {t.size}")
        else:
            self._flush_rows()
            console().print(f"  [yellow]{message}[/]")

    def end_segment(self) -> None:
        if self.form == TABLE:
            if not self._rows and self._seg is not None and self._seg.size_bytes == 0:
                empty = "no batches yet" if self._seg.active else "empty"
                console().print(f"[dim]  ({empty})[/]")
            self._flush_rows()

    def finish(self) -> None:
        if self.invalid:
            note(
                f"Warning: {self.invalid} batch{'es' if self.invalid != 1 else ''} with a CRC-32C "
                f"that does not match the data: the file is damaged"
            )


def log_dump(form: str, topic: str, partition: int, dumps, total: int, *, show_records: bool):
    """Render ``kcli log dump`` as storage.segment_dump.dump_segments reads the files, with a
    progress bar over ``total`` bytes."""
    from kcli.render.output import reader_left
    from kcli.render.progress import progress
    from storage.segment_dump import BatchDump

    out = LogDump(form, topic, partition, show_records=show_records)
    # Offsets the log cleaner removed show as gaps: between batches, and between segments.
    expected = None
    try:
        with progress(f"Reading {topic}-{partition}", total, "bytes") as bar:
            for seg, entries, items in dumps:
                if expected is None:
                    expected = seg.base_offset
                out.segment(seg)
                if entries is not None:
                    out.index(seg, entries)
                for item in items:
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
    except BrokenPipeError:
        reader_left()
        return
    out.finish()


def _gap_text(first: int, last: int) -> str:
    n = last - first + 1
    what = f"offset {first}" if n == 1 else f"offsets {first}..{last}"
    return f"{what} removed by the log cleaner (a newer record of the key is kept)"
