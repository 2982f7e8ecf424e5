"""What a fetch returned (``Log.read``: whole batches, the first one holding the offset asked
for) decoded from an offset on, batch by batch, each with its header: what a reader needs
besides ``Log.read_records`` when it wants the batch's timestamp type as well."""

from __future__ import annotations

from collections.abc import Iterator

from storage.records import BatchHeader, Record, decode_batch, read_header


def decoded_batches(
    data: bytes, min_offset: int, max_records: int | None = None
) -> Iterator[tuple[BatchHeader, list[Record]]]:
    """Each batch of ``data`` that reaches ``min_offset``, with its records from there on (at
    most ``max_records`` in all; a control batch or one wholly below gives an empty list)."""
    pos, end = 0, len(data)
    left = max_records
    while pos < end and (left is None or left > 0):
        header = read_header(data, pos)
        size = header.size
        if header.next_offset > min_offset:
            records = decode_batch(data[pos : pos + size], min_offset=min_offset, max_records=left)
            if left is not None:
                left -= len(records)
            yield header, records
        pos += size


def next_offset_after(data: bytes) -> int:
    """The offset after the last batch of ``data`` (where the next fetch starts)."""
    pos, header = 0, None
    while pos < len(data):
        header = read_header(data, pos)
        pos += header.size
    return header.next_offset
