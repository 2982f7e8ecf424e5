"""OffsetCommit and OffsetFetch: committed offsets of wire groups, kept in ``GroupStore``.

Commits are checked against the live group (generation and member) when it has members, and
go to the same ``GroupStore`` that kcli's own consumers use.

``GroupOffsets`` reads the live groups from the coordinator's ``GroupRegistry``.
"""

from __future__ import annotations

import logging
import time

from kcli.serve.config import BrokerConfig
from kcli.serve.consumer_protocol import CONSUMER_PROTOCOL_TYPE, decode_subscription
from kcli.serve.errors import group_error_code
from kcli.serve.group_membership import fenced_instance
from kcli.serve.group_registry import GroupRegistry
from kcli.serve.group_state import COMPLETING_REBALANCE
from kcli.serve.protocol import (
    ErrorCode,
    OffsetCommitResponse,
    OffsetDeleteResponse,
    OffsetFetchResponse,
    Request,
)
from kcli.serve.stats import ConnectionStats
from storage import StorageError

log = logging.getLogger("kcli.serve")


class GroupOffsets:
    """Handlers for OffsetCommit, OffsetFetch and OffsetDelete."""

    def __init__(self, registry: GroupRegistry, config: BrokerConfig):
        self.registry = registry
        self.config = config

    async def offset_commit(self, conn: ConnectionStats, req: Request):
        body = req.body
        error = self._commit_error(
            body.group_id, body.generation_id_or_member_epoch, body.member_id, req.version
        )
        group = self.registry.groups.get(body.group_id)
        instance_id = body.group_instance_id if req.version >= 7 else None
        if group is not None and fenced_instance(group, body.member_id, instance_id):
            error = ErrorCode.FENCED_INSTANCE_ID
        offsets = {}
        errors: dict[tuple[str, int], ErrorCode] = {}
        wanted = [(t.name, p) for t in body.topics for p in t.partitions]
        if error == ErrorCode.NONE:
            known = await self.registry.run(self._partition_counts, {name for name, _ in wanted})
            for name, part in wanted:
                tp = (name, part.partition_index)
                metadata = part.committed_metadata or ""
                if not 0 <= part.partition_index < known.get(name, 0):
                    errors[tp] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                elif len(metadata.encode()) > self.config.offset_metadata_max_bytes:
                    errors[tp] = ErrorCode.OFFSET_METADATA_TOO_LARGE
                else:
                    offsets[tp] = (part.committed_offset, metadata)
            if offsets:
                error = await self._store_offsets(conn, body, offsets)
        response_topics: dict[str, list] = {}
        part_cls = OffsetCommitResponse.OffsetCommitResponseTopic.OffsetCommitResponsePartition
        for name, part in wanted:
            tp = (name, part.partition_index)
            response_topics.setdefault(name, []).append(
                part_cls(partition_index=part.partition_index, error_code=errors.get(tp, error))
            )
        return OffsetCommitResponse(
            version=req.version,
            throttle_time_ms=0,
            topics=[
                OffsetCommitResponse.OffsetCommitResponseTopic(name=name, partitions=parts)
                for name, parts in response_topics.items()
            ],
        )

    def _commit_error(
        self, group_id: str, generation: int, member_id: str, version: int
    ) -> ErrorCode:
        if not group_id:
            return ErrorCode.INVALID_GROUP_ID
        cgroup = self.registry.consumer_groups.get(group_id)
        if cgroup is not None:
            return self._consumer_commit_error(cgroup, generation, member_id, version)
        group = self.registry.groups.get(group_id)
        if generation < 0 and (group is None or not group.members):
            return ErrorCode.NONE  # a simple commit: checked against kcli members by the store
        if group is not None and group.state == COMPLETING_REBALANCE:
            return ErrorCode.REBALANCE_IN_PROGRESS
        member = group.members.get(member_id) if group is not None else None
        if member is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if generation != group.generation:
            return ErrorCode.ILLEGAL_GENERATION
        member.last_heartbeat = self.registry.loop_time()
        return ErrorCode.NONE

    @staticmethod
    def _consumer_commit_error(group, member_epoch: int, member_id: str, version: int):
        """A commit to a consumer-protocol group carries the member's epoch where a classic
        one carries the generation (OffsetCommit v9+, KIP-848)."""
        if member_epoch < 0 and not member_id and not group.members:
            return ErrorCode.NONE  # an admin's commit to an empty group
        member = group.members.get(member_id)
        if member is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if member_epoch != member.member_epoch:
            return ErrorCode.STALE_MEMBER_EPOCH if version >= 9 else ErrorCode.ILLEGAL_GENERATION
        return ErrorCode.NONE

    async def _store_offsets(self, conn: ConnectionStats, body, offsets) -> ErrorCode:
        from storage.groups import OffsetAndMetadata

        now_ms = int(time.time() * 1000)
        values = {
            tp: OffsetAndMetadata(offset, metadata, now_ms)
            for tp, (offset, metadata) in offsets.items()
        }
        group = self.registry.groups.get(body.group_id) or self.registry.consumer_groups.get(
            body.group_id
        )
        try:
            if group is not None and group.members:
                await self.registry.run(
                    self.registry.group_store.commit_offsets_trusted, body.group_id, values
                )
            else:
                await self.registry.run(
                    self.registry.group_store.commit_offsets, body.group_id, values
                )
        except StorageError as exc:
            log.info(
                "offset commit of %s for group '%s' failed: %s", conn.label, body.group_id, exc
            )
            return group_error_code(exc)
        return ErrorCode.NONE

    def _partition_counts(self, topics: set[str]) -> dict[str, int]:
        out = {}
        for name in topics:
            try:
                out[name] = self.registry.store.topic(name).partitions
            except StorageError:
                pass
        return out

    async def offset_fetch(self, conn: ConnectionStats, req: Request):
        body = req.body
        if req.version < 8:
            wanted = None
            if body.topics is not None:
                wanted = [(t.name, p) for t in body.topics for p in t.partition_indexes]
            error, topics = await self._fetch_group(body.group_id, wanted)
            topic_cls = OffsetFetchResponse.OffsetFetchResponseTopic
            # From v2 on the group's error is the response's, not each partition's.
            return OffsetFetchResponse(
                version=req.version,
                throttle_time_ms=0,
                topics=_fetched_topics(
                    topic_cls,
                    topic_cls.OffsetFetchResponsePartition,
                    topics,
                    error if req.version < 2 else ErrorCode.NONE,
                ),
                error_code=error,
            )
        # v8+: several groups in one request (KIP-709).
        group_cls = OffsetFetchResponse.OffsetFetchResponseGroup
        topic_cls = group_cls.OffsetFetchResponseTopics
        part_cls = topic_cls.OffsetFetchResponsePartitions
        groups = []
        for g in body.groups:
            wanted = None
            if g.topics is not None:
                wanted = [(t.name, p) for t in g.topics for p in t.partition_indexes]
            error, topics = await self._fetch_group(g.group_id, wanted)
            groups.append(
                group_cls(
                    group_id=g.group_id,
                    topics=_fetched_topics(topic_cls, part_cls, topics, ErrorCode.NONE),
                    error_code=error,
                )
            )
        return OffsetFetchResponse(version=req.version, throttle_time_ms=0, groups=groups)

    async def _fetch_group(self, group_id: str, wanted: list[tuple[str, int]] | None):
        """(error, {topic: [(partition, committed offset or -1, metadata)]}) of one group."""
        try:
            committed = await self.registry.run(
                self.registry.group_store.fetch_offsets, group_id, wanted
            )
            error = ErrorCode.NONE
        except StorageError as exc:
            log.info("offset fetch for group '%s' failed: %s", group_id, exc)
            committed, error = {}, group_error_code(exc)
        if wanted is None:
            wanted = sorted(committed)
        topics: dict[str, list] = {}
        for tp in wanted:
            found = committed.get(tp)
            topics.setdefault(tp[0], []).append(
                (tp[1], found.offset if found else -1, found.metadata if found else "")
            )
        return error, topics

    def _delete_offsets(self, group_id: str, partitions: list[tuple[str, int]]) -> None:
        by_topic: dict[str, list[int]] = {}
        for topic, partition in partitions:
            by_topic.setdefault(topic, []).append(partition)
        for topic, parts in by_topic.items():
            self.registry.group_store.delete_offsets(group_id, topic, parts)

    async def offset_delete(self, conn: ConnectionStats, req: Request):
        """OffsetDelete: forget committed offsets of partitions no live member subscribes to."""
        body = req.body
        group = self.registry.groups.get(body.group_id)
        subscribed: set[str] = set()
        if group is not None and group.protocol_type == CONSUMER_PROTOCOL_TYPE:
            for m in group.members.values():
                subscribed.update(
                    decode_subscription(m.metadata(group.protocol) or m.protocols[0][1])
                )
        wanted = [(t.name, p.partition_index) for t in body.topics for p in t.partitions]
        deletable = [tp for tp in wanted if tp[0] not in subscribed]
        try:
            await self.registry.run(self._delete_offsets, body.group_id, deletable)
            error = ErrorCode.NONE
        except StorageError as exc:
            log.info("offset delete for group '%s' failed: %s", body.group_id, exc)
            error = group_error_code(exc)
        topic_cls = OffsetDeleteResponse.OffsetDeleteResponseTopic
        topics: dict[str, list] = {}
        for name, partition in wanted:
            topics.setdefault(name, []).append(
                topic_cls.OffsetDeleteResponsePartition(
                    partition_index=partition,
                    error_code=ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC
                    if name in subscribed
                    else ErrorCode.NONE,
                )
            )
        if error == ErrorCode.NONE and deletable:
            log.info(
                "%s deleted the committed offsets of group '%s' for %d partition(s)",
                conn.label,
                body.group_id,
                len(deletable),
            )
        return OffsetDeleteResponse(
            version=req.version,
            error_code=error,
            throttle_time_ms=0,
            topics=[topic_cls(name=n, partitions=ps) for n, ps in topics.items()]
            if error == ErrorCode.NONE
            else [],
        )


def _fetched_topics(topic_cls, part_cls, topics: dict[str, list], partition_error: int) -> list:
    """OffsetFetch's topics: each partition's committed offset (-1: none) and metadata."""
    return [
        topic_cls(
            name=name,
            partitions=[
                part_cls(
                    partition_index=p,
                    committed_offset=offset,
                    committed_leader_epoch=-1,
                    metadata=metadata,
                    error_code=partition_error,
                )
                for p, offset, metadata in parts
            ],
        )
        for name, parts in topics.items()
    ]
