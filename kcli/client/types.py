"""Value types of the client API, named and shaped as in confluent-kafka.

``TopicPartition``, ``Message``, ``KafkaError``, ``KafkaException``, ``NewTopic`` and
``NewPartitions`` behave like their confluent-kafka namesakes, so code written against kcli
runs against a real cluster by changing the import.
"""

from __future__ import annotations

from kcli.client.error_codes import ErrorCodes, error_name

# Special offsets (librdkafka's RD_KAFKA_OFFSET_*).
OFFSET_BEGINNING = -2
OFFSET_END = -1
OFFSET_STORED = -1000
OFFSET_INVALID = -1001

# Message.timestamp() types.
TIMESTAMP_NOT_AVAILABLE = 0
TIMESTAMP_CREATE_TIME = 1
TIMESTAMP_LOG_APPEND_TIME = 2
# The last millisecond of 9999-12-31 (UTC), the latest time an ISO-8601 date can name; a
# record timestamp beyond it is refused so that every stored one can be shown as a date (and
# fits the batch header's int64).
MAX_TIMESTAMP_MS = 253_402_300_799_999


def timestamp_is_valid(timestamp) -> bool:
    """A producer's record timestamp: a whole number of ms, 0 (now) to MAX_TIMESTAMP_MS."""
    return timestamp.__class__ is int and 0 <= timestamp <= MAX_TIMESTAMP_MS


def invalid_timestamp_message(timestamp) -> str:
    return (
        f"invalid timestamp {timestamp!r}: use milliseconds since the epoch (a whole number "
        f"from 0 to {MAX_TIMESTAMP_MS}, 9999-12-31; 0 means now)"
    )


class KafkaError(ErrorCodes):
    """An error code with a readable string, as confluent-kafka's KafkaError (the codes are
    class attributes, from kcli.client.error_codes)."""

    def __init__(
        self, code: int, reason: str | None = None, fatal: bool = False, retriable: bool = False
    ):
        self._code = code
        self._reason = reason
        self._fatal = fatal
        self._retriable = retriable

    def code(self) -> int:
        return self._code

    def name(self) -> str:
        return error_name(self._code)

    def str(self) -> str:
        return self._reason or self.name()

    def fatal(self) -> bool:
        return self._fatal

    def retriable(self) -> bool:
        return self._retriable

    def __str__(self) -> str:
        return self.str()

    def __repr__(self) -> str:
        return f'KafkaError{{code={self.name()},val={self._code},str="{self.str()}"}}'

    def __eq__(self, other) -> bool:
        if isinstance(other, KafkaError):
            return self._code == other._code
        if isinstance(other, int):
            return self._code == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._code)


class KafkaException(Exception):
    """Raised by the client API; ``args[0]`` is a KafkaError, as in confluent-kafka."""

    def __init__(self, error: KafkaError | int, reason: str | None = None):
        if isinstance(error, int):
            error = KafkaError(error, reason)
        super().__init__(error)

    def __str__(self) -> str:
        return str(self.args[0])


class TopicPartition:
    """A topic, a partition and (depending on use) an offset, as in confluent-kafka."""

    __slots__ = ("topic", "partition", "offset", "metadata", "leader_epoch", "error")

    def __init__(
        self,
        topic: str,
        partition: int = -1,
        offset: int = OFFSET_INVALID,
        metadata: str | None = None,
        leader_epoch: int | None = None,
    ):
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.metadata = metadata
        self.leader_epoch = leader_epoch
        self.error: KafkaError | None = None

    def __repr__(self) -> str:
        error = f",error={self.error!r}" if self.error else ""
        return (
            f"TopicPartition{{topic={self.topic},partition={self.partition},"
            f"offset={self.offset},leader_epoch={self.leader_epoch}{error}}}"
        )

    def _key(self):
        return (self.topic, self.partition)

    def __eq__(self, other) -> bool:
        return isinstance(other, TopicPartition) and self._key() == other._key()

    def __lt__(self, other: TopicPartition) -> bool:
        return self._key() < other._key()

    def __hash__(self) -> int:
        return hash(self._key())


class Message(tuple):
    """One consumed record (or an event such as end-of-partition), as confluent-kafka's Message.

    A tuple underneath so that building one per record stays cheap; read it through the
    methods, exactly as with confluent-kafka.
    """

    __slots__ = ()

    def __new__(
        cls, topic, partition, offset, timestamp_type, timestamp, key, value, headers, error=None
    ):
        return tuple.__new__(
            cls, (topic, partition, offset, timestamp_type, timestamp, key, value, headers, error)
        )

    def topic(self) -> str | None:
        return self[0]

    def partition(self) -> int | None:
        return self[1]

    def offset(self) -> int | None:
        return self[2]

    def timestamp(self) -> tuple[int, int]:
        """(timestamp type, milliseconds since the epoch)."""
        return (self[3], self[4])

    def key(self) -> bytes | None:
        return self[5]

    def value(self) -> bytes | None:
        return self[6]

    def headers(self) -> list[tuple[str, bytes | None]] | None:
        h = self[7]
        return list(h) if h else None

    def error(self) -> KafkaError | None:
        return self[8]

    def leader_epoch(self) -> int | None:
        return None

    def latency(self) -> float | None:
        return None

    def __len__(self) -> int:  # confluent-kafka: len(msg) is the value's length
        v = self[6]
        return len(v) if v is not None else 0

    def __repr__(self) -> str:
        if self[8] is not None:
            return f"Message(error={self[8]!r}, topic={self[0]}, partition={self[1]})"
        return f"Message(topic={self[0]}, partition={self[1]}, offset={self[2]})"


def error_message(
    error: KafkaError,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
) -> Message:
    """A Message carrying only an error (end of partition, offset reset failure, ...)."""
    return Message(topic, partition, offset, TIMESTAMP_NOT_AVAILABLE, -1, None, None, None, error)


class NewTopic:
    """A topic to create with AdminClient.create_topics (confluent-kafka's NewTopic)."""

    def __init__(
        self,
        topic: str,
        num_partitions: int = -1,
        replication_factor: int = -1,
        replica_assignment: list | None = None,
        config: dict[str, str] | None = None,
    ):
        self.topic = topic
        self.num_partitions = num_partitions
        self.replication_factor = replication_factor
        self.replica_assignment = replica_assignment
        self.config = dict(config or {})

    def __repr__(self) -> str:
        return f"NewTopic(topic={self.topic},num_partitions={self.num_partitions})"


class NewPartitions:
    """A new total partition count for AdminClient.create_partitions."""

    def __init__(self, topic: str, new_total_count: int, replica_assignment: list | None = None):
        self.topic = topic
        self.new_total_count = new_total_count
        self.replica_assignment = replica_assignment

    def __repr__(self) -> str:
        return f"NewPartitions(topic={self.topic},new_total_count={self.new_total_count})"
