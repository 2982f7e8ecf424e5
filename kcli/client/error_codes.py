"""Kafka's error codes, in one table, and the one mapping from the store's errors to them.

``ErrorCodes`` holds every code kcli gives or recognises, under confluent-kafka's names
(``KafkaError`` inherits them, so ``KafkaError.UNKNOWN_TOPIC_OR_PART`` reads as it does
there): codes >= 0 are Kafka's protocol error codes (``org.apache.kafka.common.protocol.Errors``),
negative ones librdkafka's local errors (``RD_KAFKA_RESP_ERR__*``).

``kafka_error_code(exc)`` is the code for a ``StorageError``, used wherever a store error
becomes a Kafka one: the local clients, ``kcli serve``'s answers; ``storage_error_type(code)``
is the way back, used by the remote backend to raise what the local store would have raised.
"""

from __future__ import annotations

from storage import errors as se


class ErrorCodes:
    """Kafka's and librdkafka's error codes, by confluent-kafka's names."""

    # librdkafka's local (client-side) errors.
    _BAD_MSG = -199
    _TRANSPORT = -195
    _RESOLVE = -193
    _MSG_TIMED_OUT = -192
    _PARTITION_EOF = -191
    _UNKNOWN_PARTITION = -190
    _UNKNOWN_TOPIC = -188
    _ALL_BROKERS_DOWN = -187
    _INVALID_ARG = -186
    _TIMED_OUT = -185
    _SSL = -181
    _ASSIGN_PARTITIONS = -175
    _REVOKE_PARTITIONS = -174
    _STATE = -172
    _AUTHENTICATION = -169
    _NO_OFFSET = -168
    _PURGE_QUEUE = -152
    _FATAL = -150
    _AUTO_OFFSET_RESET = -140
    # Kafka's protocol error codes.
    UNKNOWN = -1
    NO_ERROR = 0
    OFFSET_OUT_OF_RANGE = 1
    CORRUPT_MESSAGE = 2
    UNKNOWN_TOPIC_OR_PART = 3
    MSG_SIZE_TOO_LARGE = 10
    INVALID_TOPIC_EXCEPTION = 17
    NOT_ENOUGH_REPLICAS = 19
    NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20
    ILLEGAL_GENERATION = 22
    INCONSISTENT_GROUP_PROTOCOL = 23
    INVALID_GROUP_ID = 24
    UNKNOWN_MEMBER_ID = 25
    INVALID_SESSION_TIMEOUT = 26
    REBALANCE_IN_PROGRESS = 27
    TOPIC_AUTHORIZATION_FAILED = 29
    GROUP_AUTHORIZATION_FAILED = 30
    CLUSTER_AUTHORIZATION_FAILED = 31
    TOPIC_ALREADY_EXISTS = 36
    INVALID_PARTITIONS = 37
    INVALID_REPLICATION_FACTOR = 38
    INVALID_CONFIG = 40
    OUT_OF_ORDER_SEQUENCE_NUMBER = 45
    INVALID_PRODUCER_EPOCH = 47
    INVALID_RECORD = 87
    NON_EMPTY_GROUP = 68
    GROUP_ID_NOT_FOUND = 69
    FENCED_INSTANCE_ID = 82


E = ErrorCodes

# librdkafka's errors that mean no broker can be reached (yet).
UNREACHABLE = frozenset({E._SSL, E._TRANSPORT, E._RESOLVE, E._ALL_BROKERS_DOWN})
# Authorization failures, with the kind of resource each is about.
AUTHORIZATION_FAILED = {
    E.TOPIC_AUTHORIZATION_FAILED: "topic",
    E.GROUP_AUTHORIZATION_FAILED: "group",
    E.CLUSTER_AUTHORIZATION_FAILED: "cluster",
}
# Errors that mean "the group moved on", not "something is broken".
GROUP_MOVED_ON = frozenset({E.ILLEGAL_GENERATION, E.UNKNOWN_MEMBER_ID, E.REBALANCE_IN_PROGRESS})

_NAMES = {v: k for k, v in vars(ErrorCodes).items() if isinstance(v, int)}


def error_name(code: int) -> str:
    """confluent-kafka's name for a code (``ERR_<code>`` for one kcli does not know)."""
    return _NAMES.get(code, f"ERR_{code}")


# The store's errors and their codes, in order: the first entry that matches wins
# (PartitionNotFound is an InvalidPartitions).
_STORAGE_ERRORS: tuple[tuple[type[se.StorageError], int], ...] = (
    (se.TopicNotFound, E.UNKNOWN_TOPIC_OR_PART),
    (se.PartitionNotFound, E.UNKNOWN_TOPIC_OR_PART),
    (se.TopicAlreadyExists, E.TOPIC_ALREADY_EXISTS),
    (se.InvalidTopicName, E.INVALID_TOPIC_EXCEPTION),
    (se.InvalidPartitions, E.INVALID_PARTITIONS),
    (se.InvalidConfig, E.INVALID_CONFIG),
    (se.OffsetOutOfRange, E.OFFSET_OUT_OF_RANGE),
    (se.RecordTooLarge, E.MSG_SIZE_TOO_LARGE),
    (se.InvalidRecord, E.INVALID_RECORD),  # a CorruptRecord: before it
    (se.CorruptRecord, E.CORRUPT_MESSAGE),
    (se.OutOfOrderSequence, E.OUT_OF_ORDER_SEQUENCE_NUMBER),
    (se.InvalidProducerEpoch, E.INVALID_PRODUCER_EPOCH),
    # Consumer groups.
    (se.InvalidGroupId, E.INVALID_GROUP_ID),
    (se.GroupNotFound, E.GROUP_ID_NOT_FOUND),
    (se.GroupNotEmpty, E.NON_EMPTY_GROUP),
    (se.IllegalGeneration, E.ILLEGAL_GENERATION),
    (se.UnknownMemberId, E.UNKNOWN_MEMBER_ID),
    (se.RebalanceInProgress, E.REBALANCE_IN_PROGRESS),
    (se.InconsistentGroupProtocol, E.INCONSISTENT_GROUP_PROTOCOL),
    # The group is coordinated elsewhere (kcli processes versus kcli serve).
    (se.GroupProtocolMismatch, E.INCONSISTENT_GROUP_PROTOCOL),
    (se.FencedInstanceId, E.FENCED_INSTANCE_ID),
    (se.InvalidSessionTimeout, E.INVALID_SESSION_TIMEOUT),
)


def kafka_error_code(exc: BaseException, default: int = E.UNKNOWN) -> int:
    """Kafka's error code for a store error (``default`` for any other error)."""
    for cls, code in _STORAGE_ERRORS:
        if isinstance(exc, cls):
            return code
    return default


def storage_error_type(code: int) -> type[se.StorageError] | None:
    """The store's error for a Kafka error code (None where the store has none)."""
    if not _BY_CODE:
        for cls, c in _STORAGE_ERRORS:
            # OffsetOutOfRange is left out: it carries offsets a code does not tell;
            # GroupProtocolMismatch is a kind of INCONSISTENT_GROUP_PROTOCOL only kcli tells.
            if cls not in (se.OffsetOutOfRange, se.GroupProtocolMismatch):
                _BY_CODE.setdefault(c, cls)
    return _BY_CODE.get(code)


_BY_CODE: dict[int, type[se.StorageError]] = {}
