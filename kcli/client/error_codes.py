"""Kafka's error codes, in one table, and the one mapping from the store's errors to them.

``ErrorCode`` is the table of Kafka's protocol error codes under Kafka's names
(``org.apache.kafka.common.protocol.Errors``), the one ``kcli serve`` answers with.
``ErrorCodes`` gives the codes the clients use confluent-kafka's names (``KafkaError``
inherits them, so ``KafkaError.UNKNOWN_TOPIC_OR_PART`` reads as it does there), taking each
protocol code from ``ErrorCode``, and adds librdkafka's local errors (negative,
``RD_KAFKA_RESP_ERR__*``).

``kafka_error_code(exc)`` is the code for a ``StorageError``, used wherever a store error
becomes a Kafka one: the local clients, ``kcli serve``'s answers; ``storage_error_type(code)``
is the way back, used by the remote backend to raise what the local store would have raised.
"""

from __future__ import annotations

from enum import IntEnum

from storage import errors as se


class ErrorCode(IntEnum):
    """Kafka's protocol error codes under Kafka's names (org.apache.kafka.common.protocol.Errors):
    the codes ``kcli serve`` answers with and the clients recognise."""

    UNKNOWN_SERVER_ERROR = -1
    NONE = 0
    OFFSET_OUT_OF_RANGE = 1
    CORRUPT_MESSAGE = 2
    UNKNOWN_TOPIC_OR_PARTITION = 3
    LEADER_NOT_AVAILABLE = 5
    NOT_LEADER_OR_FOLLOWER = 6
    REQUEST_TIMED_OUT = 7
    BROKER_NOT_AVAILABLE = 8
    REPLICA_NOT_AVAILABLE = 9
    MESSAGE_TOO_LARGE = 10
    OFFSET_METADATA_TOO_LARGE = 12
    COORDINATOR_LOAD_IN_PROGRESS = 14
    COORDINATOR_NOT_AVAILABLE = 15
    NOT_COORDINATOR = 16
    INVALID_TOPIC_EXCEPTION = 17
    RECORD_LIST_TOO_LARGE = 18
    NOT_ENOUGH_REPLICAS = 19
    NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20
    ILLEGAL_GENERATION = 22
    INCONSISTENT_GROUP_PROTOCOL = 23
    INVALID_GROUP_ID = 24
    UNKNOWN_MEMBER_ID = 25
    INVALID_SESSION_TIMEOUT = 26
    REBALANCE_IN_PROGRESS = 27
    INVALID_COMMIT_OFFSET_SIZE = 28
    TOPIC_AUTHORIZATION_FAILED = 29
    GROUP_AUTHORIZATION_FAILED = 30
    CLUSTER_AUTHORIZATION_FAILED = 31
    UNSUPPORTED_VERSION = 35
    TOPIC_ALREADY_EXISTS = 36
    INVALID_PARTITIONS = 37
    INVALID_REPLICATION_FACTOR = 38
    INVALID_REPLICA_ASSIGNMENT = 39
    INVALID_CONFIG = 40
    NOT_CONTROLLER = 41
    INVALID_REQUEST = 42
    UNSUPPORTED_FOR_MESSAGE_FORMAT = 43
    OUT_OF_ORDER_SEQUENCE_NUMBER = 45
    DUPLICATE_SEQUENCE_NUMBER = 46
    INVALID_PRODUCER_EPOCH = 47
    TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53
    UNKNOWN_PRODUCER_ID = 59
    NON_EMPTY_GROUP = 68
    GROUP_ID_NOT_FOUND = 69
    FENCED_LEADER_EPOCH = 74
    UNKNOWN_LEADER_EPOCH = 75
    STALE_BROKER_EPOCH = 77
    MEMBER_ID_REQUIRED = 79
    PREFERRED_LEADER_NOT_AVAILABLE = 80
    GROUP_MAX_SIZE_REACHED = 81
    FENCED_INSTANCE_ID = 82
    ELIGIBLE_LEADERS_NOT_AVAILABLE = 83
    ELECTION_NOT_NEEDED = 84
    GROUP_SUBSCRIBED_TO_TOPIC = 86
    INVALID_RECORD = 87
    INVALID_UPDATE_VERSION = 95
    UNKNOWN_TOPIC_ID = 100
    DUPLICATE_BROKER_REGISTRATION = 101
    INELIGIBLE_REPLICA = 107
    FENCED_MEMBER_EPOCH = 110
    UNRELEASED_INSTANCE_ID = 111
    UNSUPPORTED_ASSIGNOR = 112
    STALE_MEMBER_EPOCH = 113


K = ErrorCode


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
    # Kafka's protocol error codes (ErrorCode), by confluent-kafka's names.
    UNKNOWN = int(K.UNKNOWN_SERVER_ERROR)
    NO_ERROR = int(K.NONE)
    OFFSET_OUT_OF_RANGE = int(K.OFFSET_OUT_OF_RANGE)
    CORRUPT_MESSAGE = int(K.CORRUPT_MESSAGE)
    UNKNOWN_TOPIC_OR_PART = int(K.UNKNOWN_TOPIC_OR_PARTITION)
    MSG_SIZE_TOO_LARGE = int(K.MESSAGE_TOO_LARGE)
    INVALID_TOPIC_EXCEPTION = int(K.INVALID_TOPIC_EXCEPTION)
    NOT_ENOUGH_REPLICAS = int(K.NOT_ENOUGH_REPLICAS)
    NOT_ENOUGH_REPLICAS_AFTER_APPEND = int(K.NOT_ENOUGH_REPLICAS_AFTER_APPEND)
    ILLEGAL_GENERATION = int(K.ILLEGAL_GENERATION)
    INCONSISTENT_GROUP_PROTOCOL = int(K.INCONSISTENT_GROUP_PROTOCOL)
    INVALID_GROUP_ID = int(K.INVALID_GROUP_ID)
    UNKNOWN_MEMBER_ID = int(K.UNKNOWN_MEMBER_ID)
    INVALID_SESSION_TIMEOUT = int(K.INVALID_SESSION_TIMEOUT)
    REBALANCE_IN_PROGRESS = int(K.REBALANCE_IN_PROGRESS)
    TOPIC_AUTHORIZATION_FAILED = int(K.TOPIC_AUTHORIZATION_FAILED)
    GROUP_AUTHORIZATION_FAILED = int(K.GROUP_AUTHORIZATION_FAILED)
    CLUSTER_AUTHORIZATION_FAILED = int(K.CLUSTER_AUTHORIZATION_FAILED)
    TOPIC_ALREADY_EXISTS = int(K.TOPIC_ALREADY_EXISTS)
    INVALID_PARTITIONS = int(K.INVALID_PARTITIONS)
    INVALID_REPLICATION_FACTOR = int(K.INVALID_REPLICATION_FACTOR)
    INVALID_CONFIG = int(K.INVALID_CONFIG)
    OUT_OF_ORDER_SEQUENCE_NUMBER = int(K.OUT_OF_ORDER_SEQUENCE_NUMBER)
    INVALID_PRODUCER_EPOCH = int(K.INVALID_PRODUCER_EPOCH)
    INVALID_RECORD = int(K.INVALID_RECORD)
    NON_EMPTY_GROUP = int(K.NON_EMPTY_GROUP)
    GROUP_ID_NOT_FOUND = int(K.GROUP_ID_NOT_FOUND)
    FENCED_INSTANCE_ID = int(K.FENCED_INSTANCE_ID)


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
