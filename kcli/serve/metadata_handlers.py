"""Cluster metadata as clients ask for it: ApiVersions, FindCoordinator, DescribeCluster,
Metadata and DescribeTopicPartitions.

On ``kcli serve`` this broker is the whole cluster, leads every partition and coordinates every
group; on a broker of ``kcli cluster`` the answers come from the replica manager's metadata
image (``ctx.replication``).
"""

from __future__ import annotations

import logging
import uuid

from kcli.serve.broker_context import BrokerContext
from kcli.serve.config import NODE_ID
from kcli.serve.errors import error_code
from kcli.serve.partitions import TopicInfo, topic_uuid
from kcli.serve.protocol import (
    MAX_TOPICS_PER_REQUEST,
    ApiVersionsResponse,
    DescribeClusterResponse,
    DescribeTopicPartitionsResponse,
    ErrorCode,
    FindCoordinatorResponse,
    MetadataResponse,
    Request,
    RequestLimitExceeded,
    api_version_entries,
)
from kcli.serve.replication import PartitionMetadata
from kcli.serve.stats import ConnectionStats
from storage import StorageError, validate_topic_name

log = logging.getLogger("kcli.serve")

# FindCoordinator key types.
KEY_TYPE_GROUP = 0


class MetadataHandlers:
    """ApiVersions, FindCoordinator, DescribeCluster, Metadata, DescribeTopicPartitions."""

    def __init__(self, ctx: BrokerContext):
        self.ctx = ctx

    async def api_versions(self, conn: ConnectionStats, req: Request):
        if req.version >= 3 and req.body.client_software_name:
            conn.software = f"{req.body.client_software_name} {req.body.client_software_version}"
        return ApiVersionsResponse(
            version=req.version,
            error_code=0,
            api_keys=api_version_entries(self.ctx.apis),
            throttle_time_ms=0,
        )

    async def find_coordinator(self, conn: ConnectionStats, req: Request):
        host, port = self.ctx.address()
        body = req.body
        if req.version < 4:
            error, message, (node_id, host, port) = self._coordinator(body.key_type, body.key)
            return FindCoordinatorResponse(
                version=req.version,
                throttle_time_ms=0,
                error_code=error,
                error_message=message,
                node_id=node_id,
                host=host,
                port=port,
            )
        coordinators = []
        for key in body.coordinator_keys:
            error, message, (node_id, host, port) = self._coordinator(body.key_type, key)
            coordinators.append(
                FindCoordinatorResponse.Coordinator(
                    key=key,
                    node_id=node_id,
                    host=host,
                    port=port,
                    error_code=error,
                    error_message=message,
                )
            )
        return FindCoordinatorResponse(
            version=req.version, throttle_time_ms=0, coordinators=coordinators
        )

    def _coordinator(
        self, key_type: int, key: str
    ) -> tuple[ErrorCode, str | None, tuple[int, str, int]]:
        """(error, message, (node id, host, port)) of the coordinator of ``key``: this broker,
        or on a cluster the leader of the group's offsets partition."""
        none = (-1, "", -1)
        if key_type != KEY_TYPE_GROUP:
            return (
                ErrorCode.COORDINATOR_NOT_AVAILABLE,
                "kcli serve has a group coordinator only (no transactions, no share groups)",
                none,
            )
        if self.ctx.replication is not None:
            found = self.ctx.replication.coordinator(key)
            if found is None:
                return (
                    ErrorCode.COORDINATOR_NOT_AVAILABLE,
                    "the coordinator's offsets partition has no leader",
                    none,
                )
            return ErrorCode.NONE, None, found
        host, port = self.ctx.address()
        return ErrorCode.NONE, None, (NODE_ID, host, port)

    async def describe_cluster(self, conn: ConnectionStats, req: Request):
        host, port = self.ctx.address()
        return DescribeClusterResponse(
            version=req.version,
            throttle_time_ms=0,
            error_code=0,
            error_message=None,
            endpoint_type=req.body.endpoint_type,
            cluster_id=self.ctx.cluster_id,
            controller_id=self._controller_id(),
            brokers=[
                DescribeClusterResponse.DescribeClusterBroker(
                    broker_id=i, host=h, port=p, rack=None, is_fenced=False
                )
                for i, h, p in self._brokers()
            ],
        )

    def _brokers(self) -> list[tuple[int, str, int]]:
        """(node id, host, port) of every live broker: this one, or a cluster's."""
        if self.ctx.replication is not None:
            return self.ctx.replication.brokers()
        host, port = self.ctx.address()
        return [(NODE_ID, host, port)]

    def _controller_id(self) -> int:
        return NODE_ID if self.ctx.replication is None else self.ctx.replication.controller_id()

    # -- Metadata, DescribeTopicPartitions ------------------------------------------------

    async def metadata(self, conn: ConnectionStats, req: Request):
        body = req.body
        names: list[str] | None
        by_id: dict[uuid.UUID, str] = {}
        if body.topics is None or (req.version == 0 and not body.topics):
            names = None  # every topic (v0 says so with an empty list)
        else:
            _check_count("Metadata", "topics", len(body.topics), MAX_TOPICS_PER_REQUEST)
            ids = [t.topic_id for t in body.topics if t.name is None]
            if ids:
                by_id = await self.ctx.topic_names(True, ids)
            names = list(dict.fromkeys(t.name or by_id.get(t.topic_id, "") for t in body.topics))
        auto_create = self.ctx.config.auto_create_topics_enable and (
            req.version < 4 or body.allow_auto_topic_creation
        )
        if self.ctx.replication is not None:
            topics = await self._cluster_metadata_topics(names, auto_create)
        else:
            if names and auto_create:
                async with self.ctx.admin_lock:
                    infos = await self.ctx.run(self._topics_creating, names)
            else:
                infos = await self.ctx.run(self.ctx.partitions.topics, names)
            # Thousands of topics take a while to describe: built in the pool.
            topics = await self.ctx.run(_metadata_topics, infos)
        return MetadataResponse(
            version=req.version,
            throttle_time_ms=0,
            brokers=[
                MetadataResponse.MetadataResponseBroker(node_id=i, host=h, port=p, rack=None)
                for i, h, p in self._brokers()
            ],
            cluster_id=self.ctx.cluster_id,
            controller_id=self._controller_id(),
            topics=topics,
            error_code=0,
        )

    async def _cluster_topics(
        self, names: list[str] | None, auto_create: bool
    ) -> list[tuple[TopicInfo, list[PartitionMetadata]]]:
        """A cluster broker's topics, as its replica manager's metadata image has them: each
        partition's leader, leader epoch, replicas and in-sync replicas."""
        rep = self.ctx.replication
        out = []
        for name in rep.topic_names() if names is None else names:
            try:
                validate_topic_name(name)
            except StorageError as exc:
                out.append((TopicInfo(name, error_code(exc)), []))
                continue
            parts = rep.topic_metadata(name)
            if parts is None and auto_create and await rep.auto_create(name):
                parts = rep.topic_metadata(name)
            if parts is None:
                out.append((TopicInfo(name, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION), []))
                continue
            topic_id = rep.topic_id(name)
            info = TopicInfo(
                name, ErrorCode.NONE, topic_uuid(topic_id) if topic_id else None, len(parts)
            )
            out.append((info, parts))
        return out

    async def _cluster_metadata_topics(self, names: list[str] | None, auto_create: bool) -> list:
        topic_cls = MetadataResponse.MetadataResponseTopic
        part_cls = topic_cls.MetadataResponsePartition
        return [
            topic_cls(
                error_code=info.error,
                name=info.name,
                topic_id=info.topic_id,
                is_internal=info.name.startswith("__"),
                partitions=[part_cls(**_partition_fields(p)) for p in parts],
            )
            for info, parts in await self._cluster_topics(names, auto_create)
        ]

    def _topics_creating(self, names: list[str]) -> list[TopicInfo]:
        known = {t.name for t in self.ctx.partitions.topics(None)}
        topics = self.ctx.partitions.topics(names, auto_create=True)
        for t in topics:
            if t.error == ErrorCode.NONE and t.name not in known:
                log.info(
                    "created topic '%s' with %d partition(s) (auto.create.topics.enable)",
                    t.name,
                    t.partitions,
                )
        return topics

    async def describe_topic_partitions(self, conn: ConnectionStats, req: Request):
        body = req.body
        _check_count("DescribeTopicPartitions", "topics", len(body.topics), MAX_TOPICS_PER_REQUEST)
        names = [t.name for t in body.topics] or None
        if self.ctx.replication is not None:
            found = await self._cluster_topics(names, False)
        else:
            found = [(t, None) for t in await self.ctx.run(self.ctx.partitions.topics, names)]
        found.sort(key=lambda tp: tp[0].name)
        layout = {t.name: parts for t, parts in found}
        topics = [t for t, _ in found]
        cursor = body.cursor
        limit = max(body.response_partition_limit, 1)
        topic_cls = DescribeTopicPartitionsResponse.DescribeTopicPartitionsResponseTopic
        part_cls = topic_cls.DescribeTopicPartitionsResponsePartition
        out = []
        next_cursor = None
        budget = limit
        for t in topics:
            first = 0
            if cursor is not None:
                if t.name < cursor.topic_name:
                    continue
                if t.name == cursor.topic_name:
                    first = cursor.partition_index
            if budget <= 0 and t.error == ErrorCode.NONE:
                next_cursor = DescribeTopicPartitionsResponse.Cursor(
                    topic_name=t.name, partition_index=first
                )
                break
            last = min(t.partitions, first + budget)
            out.append(
                topic_cls(
                    error_code=t.error,
                    name=t.name,
                    topic_id=t.topic_id,
                    is_internal=t.name.startswith("__"),
                    partitions=[
                        part_cls(
                            **_partition_fields(m), eligible_leader_replicas=[], last_known_elr=[]
                        )
                        for m in (
                            layout[t.name][first:last]
                            if layout[t.name] is not None
                            else [_one_broker(p) for p in range(first, last)]
                        )
                    ],
                )
            )
            budget -= last - first
            if last < t.partitions:
                next_cursor = DescribeTopicPartitionsResponse.Cursor(
                    topic_name=t.name, partition_index=last
                )
                break
        return DescribeTopicPartitionsResponse(
            version=req.version, throttle_time_ms=0, topics=out, next_cursor=next_cursor
        )


def _metadata_topics(topics: list[TopicInfo]) -> list:
    return [_metadata_topic(t) for t in topics]


def _metadata_topic(t: TopicInfo):
    topic_cls = MetadataResponse.MetadataResponseTopic
    part_cls = topic_cls.MetadataResponsePartition
    return topic_cls(
        error_code=t.error,
        name=t.name,
        topic_id=t.topic_id,
        is_internal=False,
        partitions=[part_cls(**_partition_fields(_one_broker(p))) for p in range(t.partitions)],
    )


def _one_broker(partition: int) -> PartitionMetadata:
    """A partition of kcli serve: this broker leads it and is its only replica.

    Its leader epoch is -1, unknown, so clients do not try to validate positions with
    OffsetForLeaderEpoch: a single broker that never changes leader needs no validation."""
    return PartitionMetadata(partition, NODE_ID, -1, [NODE_ID], [NODE_ID], [])


def _partition_fields(p: PartitionMetadata) -> dict:
    """A partition's fields as Metadata and DescribeTopicPartitions answer them."""
    return {
        "error_code": 0 if p.leader >= 0 else ErrorCode.LEADER_NOT_AVAILABLE,
        "partition_index": p.partition,
        "leader_id": p.leader,
        "leader_epoch": p.leader_epoch,
        "replica_nodes": p.replicas,
        "isr_nodes": p.isr,
        "offline_replicas": p.offline_replicas,
    }


def _check_count(api: str, what: str, count: int, limit: int) -> None:
    if count > limit:
        raise RequestLimitExceeded(
            f"its {api} request names {count} {what}; kcli serve answers at most {limit} "
            f"per request"
        )
