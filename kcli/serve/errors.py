"""Kafka's protocol error codes for the storage engine's errors.

The handlers answer a failed request with the code a Kafka client expects for the
``StorageError`` behind it.
"""

from __future__ import annotations

from kcli.serve.protocol import ErrorCode
from storage import (
    CorruptRecord,
    InvalidConfig,
    InvalidPartitions,
    InvalidTopicName,
    OffsetOutOfRange,
    PartitionNotFound,
    RecordTooLarge,
    StorageError,
    TopicAlreadyExists,
    TopicNotFound,
)
from storage.errors import InvalidProducerEpoch, InvalidRecord, OutOfOrderSequence

# In order: the first entry that matches wins (PartitionNotFound is an InvalidPartitions).
_ERROR_CODES = (
    ((TopicNotFound, PartitionNotFound), ErrorCode.UNKNOWN_TOPIC_OR_PARTITION),
    (TopicAlreadyExists, ErrorCode.TOPIC_ALREADY_EXISTS),
    (InvalidTopicName, ErrorCode.INVALID_TOPIC_EXCEPTION),
    (InvalidPartitions, ErrorCode.INVALID_PARTITIONS),
    (InvalidConfig, ErrorCode.INVALID_CONFIG),
    (OffsetOutOfRange, ErrorCode.OFFSET_OUT_OF_RANGE),
    (RecordTooLarge, ErrorCode.MESSAGE_TOO_LARGE),
    (InvalidRecord, ErrorCode.INVALID_RECORD),  # a CorruptRecord: before it
    (CorruptRecord, ErrorCode.CORRUPT_MESSAGE),
    (OutOfOrderSequence, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER),
    (InvalidProducerEpoch, ErrorCode.INVALID_PRODUCER_EPOCH),
)


def error_code(exc: BaseException) -> ErrorCode:
    """The Kafka error code for a storage error."""
    for types, code in _ERROR_CODES:
        if isinstance(exc, types):
            return code
    return ErrorCode.UNKNOWN_SERVER_ERROR


def group_error_code(exc: StorageError) -> int:
    """Kafka's error code for a GroupStore error (groups' errors carry theirs)."""
    code = getattr(exc, "error_code", None)
    return code if isinstance(code, int) else ErrorCode.UNKNOWN_SERVER_ERROR
