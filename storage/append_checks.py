"""What an append checks of each of its batches, beyond the batch itself: the record-level
validation (``storage.log_validator``), keys in a compacted topic, and max.message.bytes, as
Kafka's ``UnifiedLog.analyzeAndValidateRecords`` and ``LogValidator`` do."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from storage.errors import RecordTooLarge
from storage.log_validator import validate_batch
from storage.record_batch import BatchHeader

if TYPE_CHECKING:
    from storage.topic_config import TopicConfig


def validate_for_append(
    batches: Sequence, config: TopicConfig, topic: str, name: str
) -> list[tuple[BatchHeader, bytes | bytearray | memoryview]]:
    """Every batch of one append to partition ``name`` of ``topic``, validated
    (``validate_batch``), keyed if the topic is compacted, and within max.message.bytes:
    (header, batch) pairs, or the error of the first batch that is not."""
    items: list[tuple[BatchHeader, bytes | bytearray | memoryview]] = []
    max_bytes = config.max_message_bytes
    for i, batch in enumerate(batches):
        where = f"batch {i} for {name}"
        header = validate_batch(batch, where=where)
        if config.compacted:
            from storage.cleaner import require_batch_keys  # compacted topics only

            require_batch_keys(batch, where)
        if header.size > max_bytes:
            raise RecordTooLarge(
                f"a batch of {header.size} bytes is larger than max.message.bytes="
                f"{max_bytes} of topic '{topic}'; send smaller records or raise the "
                f"limit with --config max.message.bytes=N"
            )
        items.append((header, batch))
    return items
