"""OffsetCommit and OffsetFetch: committed offsets of wire groups, kept in ``GroupStore``.

Commits are checked against the live group (generation and member) when it has members, and
go to the same ``GroupStore`` that kcli's own consumers use.

``GroupOffsets`` is a mixin of ``GroupCoordinator``: it reads the coordinator's ``groups``
and uses its ``store``, ``config``, ``run`` and ``group_store``.
"""

from __future__ import annotations

import logging
import time

from kcli.serve.errors import group_error_code
from kcli.serve.group_state import COMPLETING_REBALANCE
from kcli.serve.protocol import (
    ErrorCode,
    OffsetCommitResponse,
    OffsetFetchResponse,
    Request,
)
from kcli.serve.stats import ConnectionStats
from storage import StorageError

log = logging.getLogger("kcli.serve")


class GroupOffsets:
    """Handlers for OffsetCommit and OffsetFetch."""

    async def offset_commit(self, conn: ConnectionStats, req: Request):
        body = req.body
        error = self._commit_error(
            body.group_id, body.generation_id_or_member_epoch, body.member_id
        )
        offsets = {}
        errors: dict[tuple[str, int], ErrorCode] = {}
        wanted = [(t.name, p) for t in body.topics for p in t.partitions]
        if error == ErrorCode.NONE:
            known = await self.run(self._partition_counts, {name for name, _ in wanted})
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

    def _commit_error(self, group_id: str, generation: int, member_id: str) -> ErrorCode:
        if not group_id:
            return ErrorCode.INVALID_GROUP_ID
        group = self.groups.get(group_id)
        if generation < 0 and (group is None or not group.members):
            return ErrorCode.NONE  # a simple commit: checked against kcli members by the store
        if group is not None and group.state == COMPLETING_REBALANCE:
            return ErrorCode.REBALANCE_IN_PROGRESS
        member = group.members.get(member_id) if group is not None else None
        if member is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if generation != group.generation:
            return ErrorCode.ILLEGAL_GENERATION
        member.last_heartbeat = self._loop_time()
        return ErrorCode.NONE

    async def _store_offsets(self, conn: ConnectionStats, body, offsets) -> ErrorCode:
        from storage.groups import OffsetAndMetadata

        now_ms = int(time.time() * 1000)
        values = {
            tp: OffsetAndMetadata(offset, metadata, now_ms)
            for tp, (offset, metadata) in offsets.items()
        }
        group = self.groups.get(body.group_id)
        try:
            if group is not None and group.members:
                await self.run(self.group_store.commit_offsets_trusted, body.group_id, values)
            else:
                await self.run(self.group_store.commit_offsets, body.group_id, values)
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
                out[name] = self.store.topic(name).partitions
            except StorageError:
                pass
        return out

    async def offset_fetch(self, conn: ConnectionStats, req: Request):
        body = req.body
        wanted = None
        if body.topics is not None:
            wanted = [(t.name, p) for t in body.topics for p in t.partition_indexes]
        try:
            committed = await self.run(self.group_store.fetch_offsets, body.group_id, wanted)
            error = ErrorCode.NONE
        except StorageError as exc:
            log.info("offset fetch for group '%s' failed: %s", body.group_id, exc)
            committed, error = {}, group_error_code(exc)
        if wanted is None:
            wanted = sorted(committed)
        part_cls = OffsetFetchResponse.OffsetFetchResponseTopic.OffsetFetchResponsePartition
        topics: dict[str, list] = {}
        for tp in wanted:
            found = committed.get(tp)
            topics.setdefault(tp[0], []).append(
                part_cls(
                    partition_index=tp[1],
                    committed_offset=found.offset if found else -1,
                    committed_leader_epoch=-1,
                    metadata=found.metadata if found else "",
                    error_code=error if req.version < 2 else ErrorCode.NONE,
                )
            )
        return OffsetFetchResponse(
            version=req.version,
            throttle_time_ms=0,
            topics=[
                OffsetFetchResponse.OffsetFetchResponseTopic(name=name, partitions=parts)
                for name, parts in topics.items()
            ],
            error_code=error,
        )
