"""What an append checks of each of its batches, beyond the batch itself: the record-level
validation (``storage.log_validator``), keys in a compacted topic, and max.message.bytes, as
Kafka's ``UnifiedLog.analyzeAndValidateRecords`` and ``LogValidator`` do."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from storage.compacted_batches import require_batch_keys, validate_stored_batch
from storage.errors import InvalidRecord, RecordTooLarge
from storage.log_validator import validate_batch
from storage.record_batch import BatchHeader

if TYPE_CHECKING:
    from storage.topic_config import TopicConfig


def validate_for_append(
    batches: Sequence, config: TopicConfig, topic: str, name: str, *, as_follower: bool = False
) -> list[tuple[BatchHeader, bytes | bytearray | memoryview]]:
    """Every batch of one append to partition ``name`` of ``topic``, validated
    (``validate_batch``), keyed if the topic is compacted, and within max.message.bytes:
    (header, batch) pairs, or the error of the first batch that is not.

    ``as_follower``: batches copied from the leader, whose offsets they keep; of a compacted
    topic they may be as the leader's cleaner rewrote them (``validate_stored_batch``), and
    they must follow one another (a gap between them is a cleaned section)."""
    items: list[tuple[BatchHeader, bytes | bytearray | memoryview]] = []
    max_bytes = config.max_message_bytes
    next_offset = -1
    for i, batch in enumerate(batches):
        where = f"batch {i} for {name}"
        if as_follower and config.compacted:
            header = validate_stored_batch(batch, where=where)
        else:
            header = validate_batch(batch, where=where)
        if as_follower:
            if header.base_offset < next_offset:
                raise InvalidRecord(
                    f"{where}: base offset {header.base_offset} is below the previous batch's "
                    f"end {next_offset}; a leader's batches come in offset order"
                )
            next_offset = header.last_offset + 1
        if config.compacted:
            require_batch_keys(batch, where)
        if header.size > max_bytes:
            raise RecordTooLarge(
                f"a batch of {header.size} bytes is larger than max.message.bytes="
                f"{max_bytes} of topic '{topic}'; send smaller records or raise the "
                f"limit with --config max.message.bytes=N"
            )
        items.append((header, batch))
    return items
