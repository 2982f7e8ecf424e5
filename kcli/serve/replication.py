"""The seam between ``kcli serve``'s request handlers and a cluster's replication.

``kcli serve`` alone is a one-broker cluster: it leads every partition, its log end offset is
the high watermark, and acks=all means acks=1.  A broker of ``kcli cluster`` is the same server
with a ``Replication`` object (``kcli.cluster.replica_manager.ReplicaManager``) that the
handlers consult for what one broker cannot know by itself: which brokers are alive, who leads
a partition, the high watermark, whether the in-sync replicas have an offset yet.  Everything
else (framing, decoding, the store, groups) stays as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class PartitionMetadata:
    """One partition as a Metadata response describes it."""

    partition: int
    leader: int  # -1: offline
    leader_epoch: int
    replicas: list[int]
    isr: list[int]
    offline_replicas: list[int]


class Replication(Protocol):
    """What a cluster broker's handlers ask of its replica manager (all in the event loop)."""

    node_id: int

    def handlers(self) -> dict[int, Callable]:
        """Handlers by api key that replace or extend the server's (CreateTopics goes to the
        controller; OffsetForLeaderEpoch)."""

    def brokers(self) -> list[tuple[int, str, int]]:
        """(node id, host, port) of every live broker."""

    def controller_id(self) -> int: ...

    def topic_names(self) -> list[str]: ...

    def topic_id(self, topic: str) -> str | None:
        """The controller's id of ``topic`` (Kafka's base64 form), None if it has none."""

    def topic_metadata(self, topic: str) -> list[PartitionMetadata] | None:
        """None for a topic the cluster does not have."""

    async def auto_create(self, topic: str) -> bool:
        """Ask the controller to create ``topic`` (auto.create.topics.enable); True when it
        exists afterwards."""

    def coordinator(self, key: str) -> tuple[int, str, int] | None:
        """The broker coordinating group ``key``, or None while it has no leader."""

    async def next_producer_id(self) -> int: ...

    def check_append(self, topic: str, partition: int, acks: int) -> tuple[int, int]:
        """(error code, leader epoch to stamp in the batches) before an append."""

    def appended(
        self, topic: str, partition: int, base_offset: int, end_offset: int, epoch: int
    ) -> None:
        """The leader appended offsets base_offset..end_offset-1 in ``epoch``."""

    async def wait_for_acks(
        self, topic: str, partition: int, end_offset: int, timeout_ms: int, epoch: int
    ) -> int:
        """acks=all: wait until the ISR has ``end_offset``, appended as leader at ``epoch``
        (NOT_LEADER_OR_FOLLOWER if the leadership has moved since); the error code."""

    def check_fetch(
        self, replica_id: int, topic: str, partition: int, fetch_offset: int, leader_epoch: int
    ) -> tuple[int, int | None]:
        """(error code, the offset a consumer may read up to (the high watermark), or None for
        a follower, which reads up to the log end).  A follower's fetch offset is recorded.
        ``leader_epoch`` is the requester's current leader epoch (-1: not given)."""

    def high_watermark(self, topic: str, partition: int) -> int: ...
