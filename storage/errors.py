"""The engine's errors.  Every message is written to be shown to a user as it is."""


class StorageError(Exception):
    """Base class of every error the store raises on purpose."""


class InvalidTopicName(StorageError):
    """A topic name breaks Kafka's naming rules."""


class TopicNotFound(StorageError):
    """The topic does not exist in this data directory."""


class TopicAlreadyExists(StorageError):
    """A topic of that name exists already."""


class InvalidConfig(StorageError):
    """An unknown topic config key, or a value outside its valid range."""


class InvalidPartitions(StorageError):
    """A partition count or partition number that cannot be used."""


class PartitionNotFound(InvalidPartitions):
    """The topic has no partition with that number."""


class OffsetOutOfRange(StorageError):
    """An offset outside [log_start_offset, log_end_offset]."""

    def __init__(self, message: str, *, offset: int, log_start_offset: int, log_end_offset: int):
        super().__init__(message)
        self.offset = offset
        self.log_start_offset = log_start_offset
        self.log_end_offset = log_end_offset


class RecordTooLarge(StorageError):
    """A batch bigger than the topic's max.message.bytes."""


class CorruptRecord(StorageError):
    """Bytes that are not a valid RecordBatch v2 (bad CRC, bad magic, bad lengths)."""


class InvalidRecord(CorruptRecord):
    """A batch with a valid CRC whose records contradict its header or are malformed
    (Kafka's InvalidRecordException): wrong record count, offset deltas out of order,
    lengths that do not fill the batch; or a record without a key on a compacted topic."""


class DuplicateSequence(StorageError):
    """An idempotent producer's batch that the log already holds."""


class OutOfOrderSequence(StorageError):
    """An idempotent producer's batch whose sequence does not follow the last one appended."""


class InvalidProducerEpoch(StorageError):
    """A batch from an older epoch of a producer id: a newer instance has fenced it."""


class DataDirError(StorageError):
    """The data directory cannot be created, read or written."""


class DamagedTopicFile(StorageError):
    """A topic's metadata file cannot be read: the other topics stay usable."""


class LogGap(CorruptRecord):
    """A partition's segments do not hold every offset from its log start to its log end
    (a segment deleted or emptied outside kcli), or they go backwards against a checkpoint."""


# -- messages: each worded once, and raised the same by the store, the clients and a cluster --


def topic_not_found_message(name: str, existing: list[str]) -> str:
    hint = f"; existing topics: {', '.join(existing)}" if existing else "; there are no topics yet"
    return f"topic '{name}' does not exist{hint} (create it with: kcli topic create {name})"


def partition_not_found_message(topic: str, partitions: int, partition: object) -> str:
    return (
        f"topic '{topic}' has {partitions} partition(s), numbered 0..{partitions - 1}; "
        f"partition {partition} does not exist"
    )


def partitions_can_only_grow_message(topic: str, partitions: int) -> str:
    return (
        f"topic '{topic}' has {partitions} partitions; the count can only grow (Kafka cannot "
        f"remove partitions: their records and key mapping would be lost). Use --partitions "
        f"{partitions} or more"
    )


def record_too_large_message(topic: str, size: int, max_bytes: int) -> str:
    return (
        f"a record of {size} bytes (as a batch) is larger than max.message.bytes={max_bytes} "
        f"of topic '{topic}'; send a smaller record or raise the limit with: "
        f"kcli topic alter {topic} --config max.message.bytes=N"
    )


# -- consumer groups ---------------------------------------------------------------------------


class GroupError(StorageError):
    """Base class of consumer-group errors (their Kafka error codes: kcli.client.error_codes)."""


class InvalidGroupId(GroupError):
    """A group id that is empty, too long or not printable."""


class GroupNotFound(GroupError):
    """No group of that id has ever stored state or offsets here."""


class GroupNotEmpty(GroupError):
    """The operation needs a group without live members."""


class IllegalGeneration(GroupError):
    """A commit or heartbeat from a generation that is no longer the group's."""


class UnknownMemberId(GroupError):
    """The member id is not (or no longer) in the group."""


class RebalanceInProgress(GroupError):
    """The group is rebalancing; the member must rejoin first."""


class InconsistentGroupProtocol(GroupError):
    """A joining member shares no assignor with the group's members."""


class GroupProtocolMismatch(GroupError):
    """The group is coordinated elsewhere (kcli processes versus ``kcli serve``)."""


class FencedInstanceId(GroupError):
    """Another consumer joined with this member's ``group.instance.id`` and took its place."""


class InvalidSessionTimeout(GroupError):
    """A session timeout the group cannot work with."""
