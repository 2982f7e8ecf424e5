"""The one interface the commands call, whether the data is in the local store or a cluster.

``LocalBackend`` (kcli.local.backend) works on a data directory through kcli's own client
classes and the store; ``RemoteBackend`` (kcli.remote.backend) talks to a Kafka cluster
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

from storage.topic_metadata import PartitionDescription, TopicDescription

__all__ = [
    "Backend",
    "BackendInfo",
    "PartitionDescription",
    "TopicDescription",
    "TopicInfo",
]


@dataclass(frozen=True)
class TopicInfo:
    """A topic's name and partition count (and its id where the backend knows one)."""

    name: str
    partitions: int
    topic_id: str = ""


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
        return self._create_topic(
            name, partitions, dict(config or {}), if_not_exists, replication_factor
        )

    @abstractmethod
    def _create_topic(
        self, name: str, partitions: int, config: dict, if_not_exists: bool, replication_factor: int
    ) -> TopicInfo:
        """``create_topic``, every argument given (its defaults are the interface's)."""

    def alter_topic(
        self,
        name: str,
        *,
        partitions: int | None = None,
        config: Mapping[str, str] | None = None,
    ) -> TopicInfo:
        """Grow the partition count and/or set config overrides; nothing changes when any
        of it is invalid."""
        return self._alter_topic(name, partitions, dict(config) if config else None)

    @abstractmethod
    def _alter_topic(self, name: str, partitions: int | None, config: dict | None) -> TopicInfo:
        """``alter_topic``, every argument given (None: left as it is)."""

    @abstractmethod
    def delete_topic(self, name: str) -> None: ...

    @abstractmethod
    def describe_topic(self, name: str) -> TopicDescription: ...

    def max_message_bytes(self, name: str) -> int | None:
        """The topic's max.message.bytes (the largest record batch it takes), or None where
        it cannot be read (the cluster still enforces it)."""
        return None

    def compact_topic(self, name: str, partition: int | None = None) -> list:
        """Clean a compacted topic now (storage.cleaner.CleanResult per partition)."""
        from kcli.errors import KcliError

        raise KcliError(
            "kcli topic compact cleans the local store; a Kafka cluster's brokers run their "
            "own log cleaner (drop --bootstrap-server)"
        )

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
        from storage.groups import GroupNotFound  # the group store only when asked for

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
