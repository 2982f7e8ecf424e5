"""The one interface the commands call, whether the data is in the local store or a cluster.

``LocalBackend`` (kcli.backends.local) works on a data directory through kcli's own client
classes and the store; ``RemoteBackend`` (kcli.backends.remote) talks to a Kafka cluster
through confluent-kafka.  Both return the value types below and raise the same errors
(``storage.errors`` and ``storage.groups`` exceptions, ``KcliError``), so a command reads
the same and prints the same whichever it was given.

Producers and consumers are objects with kcli's client API (``kcli.client.Producer`` and
``Consumer``, which mirror confluent-kafka's), including the two bulk methods the CLI uses:
``Producer.produce_many`` and ``Consumer.consume_records``.

Consumer groups are served by an object with the methods of ``storage.groups.GroupStore``
that the ``kcli group`` commands use (``list_groups``, ``describe_group``,
``partition_offsets``, ``plan_reset``, ``check_inactive``, ``execute_reset``,
``delete_group``), returning ``storage.groups``' value types.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class TopicInfo:
    """A topic's name and partition count (and its id where the backend knows one)."""

    name: str
    partitions: int
    topic_id: str = ""


@dataclass(frozen=True)
class PartitionDescription:
    """One partition's offsets; size and segment count where the backend can see them
    (a cluster's admin API does not expose segments: None there)."""

    partition: int
    log_start_offset: int
    log_end_offset: int
    size_bytes: int | None
    segments: int | None
    # A cluster's view (None on the local store): the leader's node id (-1: none), the
    # replicas and the in-sync replicas, as kafka-topics --describe shows them.
    leader: int | None = None
    replicas: tuple[int, ...] | None = None
    isr: tuple[int, ...] | None = None


@dataclass(frozen=True)
class TopicDescription:
    """A topic's partitions and every config with its effective value (``overrides``: the
    ones set for this topic)."""

    topic: str
    topic_id: str
    partitions: tuple[PartitionDescription, ...]
    config: dict[str, Any]
    overrides: dict[str, Any]


@dataclass(frozen=True)
class BackendInfo:
    """What ``kcli info`` shows about where the data is."""

    kind: str  # "local" | "remote"
    location: str  # the data directory, or the bootstrap servers
    cluster_id: str | None
    topics: int
    partitions: int
    size_bytes: int | None  # None when the backend cannot see sizes (a cluster)
    details: dict[str, Any]  # backend-specific, safe to show (no secrets)


class Backend(ABC):
    """Topics, records and consumer groups, wherever they live."""

    kind: ClassVar[str]

    # -- topics -------------------------------------------------------------------------

    @abstractmethod
    def topics(self) -> list[TopicInfo]:
        """Every (non-internal) topic, sorted by name."""

    @abstractmethod
    def topic(self, name: str) -> TopicInfo:
        """One topic; InvalidTopicName or TopicNotFound (listing the topics there are)."""

    @abstractmethod
    def topic_exists(self, name: str) -> bool: ...

    @abstractmethod
    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        config: Mapping[str, str] | None = None,
        *,
        if_not_exists: bool = False,
        replication_factor: int = -1,
    ) -> TopicInfo:
        """Create a topic (with ``if_not_exists``, return the existing one unchanged);
        ``replication_factor`` -1 is the cluster's default.replication.factor."""

    @abstractmethod
    def alter_topic(
        self,
        name: str,
        *,
        partitions: int | None = None,
        config: Mapping[str, str] | None = None,
    ) -> TopicInfo:
        """Grow the partition count and/or set config overrides; nothing changes when any
        of it is invalid."""

    @abstractmethod
    def delete_topic(self, name: str) -> None: ...

    @abstractmethod
    def describe_topic(self, name: str) -> TopicDescription: ...

    def segments(self, name: str) -> dict[int, list] | None:
        """Each partition's segments (storage ``SegmentInfo``), or None where they cannot
        be seen (a cluster)."""
        return None

    # -- records ------------------------------------------------------------------------

    @abstractmethod
    def producer(self, conf: Mapping[str, Any] | None = None):
        """A producer with kcli's client API; ``conf`` holds client properties
        (``linger.ms``, ``client.id``, ``delivery.report.only.error`` ...)."""

    @abstractmethod
    def consumer(self, conf: Mapping[str, Any] | None = None):
        """A consumer with kcli's client API; ``conf`` holds client properties
        (``group.id``, ``enable.partition.eof``, ``auto.offset.reset`` ...)."""

    # -- consumer groups ----------------------------------------------------------------

    @abstractmethod
    def groups(self):
        """The consumer-group service (GroupStore's methods, see the module docstring)."""

    def group_snapshot(self, group: str):
        """A group's ``GroupDescription`` and ``PartitionOffsets`` rows, or None while the
        group does not exist (what ``kcli group watch`` refreshes)."""
        from storage.groups import GroupNotFound

        gs = self.groups()
        try:
            return gs.describe_group(group), gs.partition_offsets(group)
        except GroupNotFound:
            return None

    def reset_offsets(
        self,
        group: str,
        topic: str,
        spec,
        partitions: Sequence[int] | None = None,
        *,
        execute: bool = False,
    ) -> list:
        """Plan moving ``group``'s committed offsets on ``topic`` as ``spec``
        (``storage.groups.ResetSpec``) says, and apply the plan when ``execute``; returns it
        (``OffsetReset`` rows).  Refused while the group has live members."""
        gs = self.groups()
        self.topic(topic)  # TopicNotFound, with the existing topics as a hint
        gs.check_inactive(group, "reset")
        plan = gs.plan_reset(group, topic, spec, partitions)
        if execute:
            gs.execute_reset(group, plan)
        return plan

    # -- the backend itself -------------------------------------------------------------

    @abstractmethod
    def info(self) -> BackendInfo: ...

    @abstractmethod
    def close(self) -> None:
        """Release connections and files."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# -- messages both backends give word for word (the local ones come from the store) --------


def topic_not_found_message(name: str, existing: list[str]) -> str:
    hint = f"; existing topics: {', '.join(existing)}" if existing else "; there are no topics yet"
    return f"topic '{name}' does not exist{hint} (create it with: kcli topic create {name})"


def partition_not_found_message(topic: str, partitions: int, partition: int) -> str:
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


def group_not_found_message(group: str, existing: list[str]) -> str:
    hint = f"; existing groups: {', '.join(existing)}" if existing else "; there are no groups yet"
    return f"group '{group}' does not exist{hint}"


def group_not_empty_message(group: str, members: list, verb: str) -> str:
    """``members``: storage.groups.MemberDescription (a pid is shown when there is one)."""
    who = ", ".join(f"{m.member_id}" + (f" (pid {m.pid})" if m.pid else "") for m in members[:3])
    more = f" and {len(members) - 3} more" if len(members) > 3 else ""
    return (
        f"group '{group}' has {len(members)} live member(s): {who}{more}; its offsets can "
        f"only be {verb} while the group is inactive — stop its consumers (or wait "
        f"session.timeout.ms after they died) and try again"
    )


def record_too_large_message(topic: str, size: int, max_bytes: int) -> str:
    return (
        f"a record of {size} bytes (as a batch) is larger than max.message.bytes={max_bytes} "
        f"of topic '{topic}'; send a smaller record or raise the limit with: "
        f"kcli topic alter {topic} --config max.message.bytes=N"
    )
