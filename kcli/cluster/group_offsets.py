"""Consumer groups on a cluster: each group's coordinator is the leader of its partition of
``__consumer_offsets``, and committed offsets are records in that replicated partition.

As in Kafka (GroupMetadataManager): a group lives in partition
``abs(hash(group)) % offsets.topic.num.partitions``; its coordinator is that partition's
leader; an OffsetCommit is answered once its records are in the log and the ISR has them
(acks=all); a broker that becomes leader of an offsets partition first loads the committed
offsets from it, and until then says COORDINATOR_LOAD_IN_PROGRESS; a broker that is not the
group's coordinator answers NOT_COORDINATOR, and the client looks the coordinator up again.

Records use Kafka's own schemas: the key is OffsetCommitKey v1 (group, topic, partition), the
value OffsetCommitValue v3 (offset, leader epoch, metadata, commit timestamp); a null value is
a deletion.  Each settled generation of a group is a GroupMetadata record beside them
(``kcli.cluster.group_metadata``), so a new coordinator continues the group in the same
generation, with the same members and assignments.
"""

from __future__ import annotations

import logging
import time

from kcli.cluster.constants import OFFSETS_TOPIC
from kcli.cluster.group_metadata import (
    INT16,
    INT32,
    INT64,
    GroupMetadata,
    Reader,
    group_from,
    group_metadata_key,
    group_metadata_value,
    is_group_metadata_key,
    metadata_of,
    parse_group_metadata,
    write_string,
)
from kcli.serve.protocol import (
    ErrorCode,
    HeartbeatResponse,
    JoinGroupResponse,
    OffsetCommitResponse,
    OffsetFetchResponse,
    Request,
    SyncGroupResponse,
)
from kcli.serve.stats import ConnectionStats
from storage import StorageError

log = logging.getLogger("kcli.cluster")

OFFSET_COMMIT_KEY_VERSION = 1
OFFSET_COMMIT_VALUE_VERSION = 3


def offset_commit_key(group: str, topic: str, partition: int) -> bytes:
    return (
        INT16.pack(OFFSET_COMMIT_KEY_VERSION)
        + write_string(group)
        + write_string(topic)
        + INT32.pack(partition)
    )


def offset_commit_value(offset: int, metadata: str, timestamp_ms: int) -> bytes:
    return (
        INT16.pack(OFFSET_COMMIT_VALUE_VERSION)
        + INT64.pack(offset)
        + INT32.pack(-1)
        + write_string(metadata)
        + INT64.pack(timestamp_ms)
    )


def parse_offset_commit(key: bytes, value: bytes | None):
    """(group, topic, partition, offset or None for a deletion, metadata, timestamp), or None
    for a record that is not an offset commit (the GroupMetadata records beside them)."""
    r = Reader(key)
    if r.int16() not in (0, 1):
        return None
    group, topic, partition = r.string(), r.string(), r.int32()
    if value is None:
        return group, topic, partition, None, "", -1
    v = Reader(value)
    version = v.int16()
    offset = v.int64()
    if version >= 3:
        v.int32()  # the leader epoch
    metadata = v.string() or ""
    timestamp = v.int64()
    return group, topic, partition, offset, metadata, timestamp


def java_string_hash(s: str) -> int:
    """Java's String.hashCode, which Kafka uses to place a group in the offsets topic."""
    data = s.encode("utf-16-be")
    h = 0
    for i in range(0, len(data), 2):
        h = (31 * h + (data[i] << 8 | data[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def offsets_partition_for(group: str, partitions: int) -> int:
    """Kafka's ``Utils.abs(groupId.hashCode) % offsets.topic.num.partitions``."""
    return (java_string_hash(group) & 0x7FFFFFFF) % partitions


class GroupHandlers:
    """The group APIs of a cluster broker: coordinator checks around kcli serve's coordinator,
    and commits replicated through ``__consumer_offsets``."""

    def __init__(self, manager):
        self.manager = manager
        self.loaded: set[int] = set()  # offsets partitions whose commits are in the group store

    @property
    def coordinator(self):
        return self.manager.server.coordinator

    def _offsets_partition(self, group: str) -> int | None:
        t = self.manager.image.topics.get(OFFSETS_TOPIC)
        return None if t is None else offsets_partition_for(group, len(t.partitions))

    def coordinator_error(self, group: str) -> int:
        p = self._offsets_partition(group)
        if p is None:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        part = self.manager.partitions.get((OFFSETS_TOPIC, p))
        if part is None or not part.is_leader(self.manager.node_id):
            return ErrorCode.NOT_COORDINATOR
        if p not in self.loaded:
            return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
        return ErrorCode.NONE

    # -- loading a partition when it becomes ours -------------------------------------------

    def load(self, part) -> tuple[int, dict[str, GroupMetadata | None]]:
        """Read every offset commit of an offsets partition into the group store, and the
        latest GroupMetadata of each of its groups (in the I/O pool).  Returns the number of
        commits loaded and the groups' metadata (None: deleted)."""
        from storage.groups import OffsetAndMetadata

        store = self.coordinator.registry.group_store
        latest: dict[str, dict[tuple[str, int], OffsetAndMetadata]] = {}
        groups: dict[str, GroupMetadata | None] = {}
        offset = part.log.log_start_offset
        end = part.log.log_end_offset
        count = 0
        while offset < end:
            records = part.log.read_records(offset, 1000)
            if not records:
                break
            for r in records:
                if not r.key:
                    continue
                if is_group_metadata_key(r.key):
                    group, meta = parse_group_metadata(r.key, r.value)
                    groups[group] = meta
                    continue
                parsed = parse_offset_commit(r.key, r.value)
                if parsed is not None and parsed[3] is not None:
                    group, topic, partition, committed, metadata, ts = parsed
                    latest.setdefault(group, {})[(topic, partition)] = OffsetAndMetadata(
                        committed, metadata, ts
                    )
                    count += 1
            offset = records[-1].offset + 1
        for group, offsets in latest.items():
            store.commit_offsets_trusted(group, offsets)
        for group, meta in groups.items():
            if meta is not None and meta.members:
                store.claim_external(group)
        return count, groups

    def _install(self, groups: dict[str, GroupMetadata | None]) -> None:
        """Continue the loaded groups (Kafka's GroupMetadataManager.loadGroup)."""
        registry = self.coordinator.registry
        now = registry.loop_time()
        for group_id, meta in groups.items():
            current = registry.groups.get(group_id)
            if current is not None and any(
                m.join_future or m.sync_future for m in current.members.values()
            ):
                continue  # requests are waiting on it here: it is live, not stale
            if meta is None:
                registry.groups.pop(group_id, None)
                continue
            registry.groups[group_id] = group_from(meta, now)
            registry.dirty.add(group_id)
        registry.wake.set()

    async def became_leader(self, part) -> None:
        self.loaded.discard(part.partition)
        try:
            count, groups = await self.manager.run(self.load, part)
        except StorageError as exc:
            log.error("loading the offsets in %s-%d failed: %s", part.topic, part.partition, exc)
            return
        if part.is_leader(self.manager.node_id):
            self._install(groups)
            self.loaded.add(part.partition)
            log.info(
                "%s-%d: coordinator for its groups (%d offset commits, %d groups loaded%s)",
                part.topic,
                part.partition,
                count,
                len(groups),
                "".join(
                    f"; '{g}' generation {m.generation}, {len(m.members)} member(s)"
                    for g, m in sorted(groups.items())
                    if m is not None
                ),
            )

    def became_follower(self, partition: int) -> None:
        self.loaded.discard(partition)

    # -- handlers ---------------------------------------------------------------------------

    async def offset_commit(self, conn: ConnectionStats, req: Request):
        body = req.body
        error = self.coordinator_error(body.group_id)
        if error == ErrorCode.NONE:
            response = await self.coordinator.offset_commit(conn, req)
            committed = {
                (t.name, p.partition_index)
                for t in response.topics
                for p in t.partitions
                if p.error_code == 0
            }
            records = [
                (
                    offset_commit_key(body.group_id, t.name, p.partition_index),
                    offset_commit_value(
                        p.committed_offset, p.committed_metadata or "", int(time.time() * 1000)
                    ),
                )
                for t in body.topics
                for p in t.partitions
                if (t.name, p.partition_index) in committed
            ]
            if records:
                error = await self.manager.append_internal(
                    OFFSETS_TOPIC, self._offsets_partition(body.group_id), records
                )
            if error == ErrorCode.NONE:
                return response
        part_cls = OffsetCommitResponse.OffsetCommitResponseTopic.OffsetCommitResponsePartition
        return OffsetCommitResponse(
            version=req.version,
            throttle_time_ms=0,
            topics=[
                OffsetCommitResponse.OffsetCommitResponseTopic(
                    name=t.name,
                    partitions=[
                        part_cls(partition_index=p.partition_index, error_code=error)
                        for p in t.partitions
                    ],
                )
                for t in body.topics
            ],
        )

    async def offset_fetch(self, conn: ConnectionStats, req: Request):
        if req.version >= 8:
            # v8+ names several groups (KIP-709): each is answered by its own coordinator.
            errors = {g.group_id: self.coordinator_error(g.group_id) for g in req.body.groups}
            if all(e == ErrorCode.NONE for e in errors.values()):
                return await self.coordinator.offset_fetch(conn, req)
            group_cls = OffsetFetchResponse.OffsetFetchResponseGroup
            return OffsetFetchResponse(
                version=req.version,
                throttle_time_ms=0,
                groups=[
                    group_cls(group_id=group, topics=[], error_code=error)
                    for group, error in errors.items()
                ],
            )
        error = self.coordinator_error(req.body.group_id)
        if error == ErrorCode.NONE:
            return await self.coordinator.offset_fetch(conn, req)
        return OffsetFetchResponse(
            version=req.version, throttle_time_ms=0, topics=[], error_code=error
        )

    async def join_group(self, conn: ConnectionStats, req: Request):
        error = self.coordinator_error(req.body.group_id)
        if error == ErrorCode.NONE:
            return await self.coordinator.join_group(conn, req)
        return JoinGroupResponse(
            version=req.version,
            throttle_time_ms=0,
            error_code=error,
            generation_id=-1,
            protocol_type=None,
            protocol_name="" if req.version < 7 else None,
            leader="",
            skip_assignment=False,
            member_id=req.body.member_id,
            members=[],
        )

    async def sync_group(self, conn: ConnectionStats, req: Request):
        error = self.coordinator_error(req.body.group_id)
        if error == ErrorCode.NONE:
            response = await self.coordinator.sync_group(conn, req)
            group = self.coordinator.groups.get(req.body.group_id)
            if (
                response.error_code != ErrorCode.NONE
                or group is None
                or group.leader != req.body.member_id
                or group.generation != req.body.generation_id
            ):
                return response
            # The leader's SyncGroup settled the generation: store it, as Kafka's
            # storeGroup does, before the leader hears it is done.
            error = await self.manager.append_internal(
                OFFSETS_TOPIC,
                self._offsets_partition(group.group_id),
                [
                    (
                        group_metadata_key(group.group_id),
                        group_metadata_value(metadata_of(group, int(time.time() * 1000))),
                    )
                ],
            )
            if error == ErrorCode.NONE:
                return response
            log.warning(
                "group '%s' generation %d could not be stored in %s: %s",
                group.group_id,
                group.generation,
                OFFSETS_TOPIC,
                ErrorCode(error).name,
            )
        return SyncGroupResponse(
            version=req.version,
            throttle_time_ms=0,
            error_code=error,
            protocol_type=None,
            protocol_name=None,
            assignment=b"",
        )

    async def heartbeat(self, conn: ConnectionStats, req: Request):
        error = self.coordinator_error(req.body.group_id)
        if error == ErrorCode.NONE:
            return await self.coordinator.heartbeat(conn, req)
        return HeartbeatResponse(version=req.version, throttle_time_ms=0, error_code=error)
