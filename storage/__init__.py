"""kcli's log engine: Kafka's on-disk format in pure Python.

``Store`` opens a data directory; ``Store.log(topic, partition)`` gives a partition's ``Log``
with ``append``, ``append_records``, ``flush``, ``read``, ``read_records``, ``offset_for_time``,
``log_start_offset``, ``log_end_offset``, ``recover`` and ``apply_retention``.  Batches of
idempotent producers are deduplicated (``storage.producer_state``); ``Store.next_producer_id``
hands out their ids.  This package never imports kcli, typer or rich: it returns values and
raises ``StorageError`` subclasses.

The names below are loaded on first use (PEP 562): ``from storage import errors`` or
``StorageError`` does not load the whole engine, which a one-record ``kcli produce`` would
otherwise pay for at start-up (``benchmarks/bench_cli.py``).
"""

from __future__ import annotations

from storage.lazy_exports import lazy_exports

# module -> the public names it provides
_EXPORTS = {
    "storage.clock": ("SYSTEM_CLOCK", "Clock", "FakeClock", "SystemClock"),
    "storage.errors": (
        "CorruptRecord",
        "DataDirError",
        "DuplicateSequence",
        "InvalidConfig",
        "InvalidPartitions",
        "InvalidProducerEpoch",
        "InvalidRecord",
        "InvalidTopicName",
        "OffsetOutOfRange",
        "OutOfOrderSequence",
        "PartitionNotFound",
        "RecordTooLarge",
        "StorageError",
        "TopicAlreadyExists",
        "TopicNotFound",
    ),
    "storage.log": ("Log",),
    "storage.log_types": (
        "AppendInfo",
        "DeletedSegment",
        "FetchResult",
        "RecoveryReport",
        "SegmentInfo",
    ),
    "storage.partitioner": ("RoundRobin", "murmur2", "partition_for_key"),
    "storage.records": (
        "ProducerRecord",
        "Record",
        "decode_batch",
        "decode_batches",
        "encode_batch",
    ),
    "storage.store": (
        "PartitionDescription",
        "Store",
        "TopicDescription",
        "TopicMetadata",
        "validate_topic_name",
    ),
    "storage.topic_config": ("CONFIG_KEYS", "TopicConfig"),
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
