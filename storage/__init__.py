"""kcli's log engine: Kafka's on-disk format in pure Python.

``Store`` opens a data directory; ``Store.log(topic, partition)`` gives a partition's ``Log``
with ``append``, ``append_records``, ``flush``, ``read``, ``read_records``, ``offset_for_time``,
``log_start_offset``, ``log_end_offset``, ``recover`` and ``apply_retention``.  Batches of
idempotent producers are deduplicated (``storage.producer_state``); ``Store.next_producer_id``
hands out their ids.  This package never imports kcli, typer or rich: it returns values and
raises ``StorageError`` subclasses.
"""

from storage.clock import SYSTEM_CLOCK, Clock, FakeClock, SystemClock
from storage.errors import (
    CorruptRecord,
    DataDirError,
    DuplicateSequence,
    InvalidConfig,
    InvalidPartitions,
    InvalidProducerEpoch,
    InvalidRecord,
    InvalidTopicName,
    OffsetOutOfRange,
    OutOfOrderSequence,
    PartitionNotFound,
    RecordTooLarge,
    StorageError,
    TopicAlreadyExists,
    TopicNotFound,
)
from storage.log import AppendInfo, DeletedSegment, FetchResult, Log, RecoveryReport, SegmentInfo
from storage.partitioner import RoundRobin, murmur2, partition_for_key
from storage.records import ProducerRecord, Record, decode_batch, decode_batches, encode_batch
from storage.store import (
    PartitionDescription,
    Store,
    TopicDescription,
    TopicMetadata,
    validate_topic_name,
)
from storage.topic_config import CONFIG_KEYS, TopicConfig

__all__ = [
    "AppendInfo",
    "CONFIG_KEYS",
    "Clock",
    "CorruptRecord",
    "DataDirError",
    "DeletedSegment",
    "DuplicateSequence",
    "FakeClock",
    "FetchResult",
    "InvalidConfig",
    "InvalidPartitions",
    "InvalidProducerEpoch",
    "InvalidRecord",
    "InvalidTopicName",
    "Log",
    "OffsetOutOfRange",
    "OutOfOrderSequence",
    "PartitionDescription",
    "PartitionNotFound",
    "ProducerRecord",
    "Record",
    "RecordTooLarge",
    "RecoveryReport",
    "RoundRobin",
    "SYSTEM_CLOCK",
    "SegmentInfo",
    "StorageError",
    "Store",
    "SystemClock",
    "TopicAlreadyExists",
    "TopicConfig",
    "TopicDescription",
    "TopicMetadata",
    "TopicNotFound",
    "decode_batch",
    "decode_batches",
    "encode_batch",
    "murmur2",
    "partition_for_key",
    "validate_topic_name",
]
