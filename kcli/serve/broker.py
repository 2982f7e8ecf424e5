"""The data side of the broker: metadata, produce, fetch and list-offsets.

Every handler takes the connection it serves and a decoded request and returns a
kafka.protocol response (or None when the client expects no answer).  Work that touches the
disk runs in the server's thread pool, so a long fsync or read never stalls other clients.
Topic and config administration is in ``topic_admin`` (``Broker`` inherits its handlers), and
the mapping of storage errors to Kafka error codes in ``errors``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable

from kcli.serve.config import NODE_ID, BrokerConfig
from kcli.serve.errors import error_code
from kcli.serve.fetch_wait import AppendWatcher
from kcli.serve.flushes import Flushes
from kcli.serve.partitions import (
    LATEST_TIMESTAMP,
    Appended,
    Partitions,
    Read,
    TopicInfo,
    below,
    count_records,
    topic_uuid,
)
from kcli.serve.pipelining import let_next_request_in
from kcli.serve.protocol import (
    APIS,
    MAX_TOPICS_PER_REQUEST,
    ApiVersionsResponse,
    DeleteRecordsResponse,
    DescribeClusterResponse,
    DescribeLogDirsResponse,
    DescribeTopicPartitionsResponse,
    ErrorCode,
    FetchResponse,
    FindCoordinatorResponse,
    InitProducerIdResponse,
    ListOffsetsResponse,
    MetadataResponse,
    OffsetForLeaderEpochResponse,
    ProduceResponse,
    Request,
    RequestLimitExceeded,
    api_version_entries,
)
from kcli.serve.replication import PartitionMetadata, Replication
from kcli.serve.stats import ConnectionStats, ServerStats
from storage import StorageError, validate_topic_name

log = logging.getLogger("kcli.serve")

# FindCoordinator key types.
KEY_TYPE_GROUP = 0


async def _failed(value):
    return value


class CloseConnection(Exception):
    """A request after which the connection must be closed (Kafka's way to tell an acks=0
    producer that its records were not written)."""


class Broker:
    """Handlers for the data and cluster APIs (the group coordinator's and topic admin's are
    elsewhere).  Records and offsets come from ``partitions``, nothing else."""

    def __init__(
        self,
        partitions: Partitions,
        config: BrokerConfig,
        *,
        run: Callable,
        watcher: AppendWatcher,
        stats: ServerStats,
        address: Callable[[], tuple[str, int]],
        is_stopping: Callable[[], bool],
        cluster_id: str,
        log_dir: str,
        admin_lock: asyncio.Lock,
        replication: Replication | None = None,
    ):
        self.partitions = partitions
        self.config = config
        self.run = run  # run(fn, *args) -> awaitable result of fn in the thread pool
        self.watcher = watcher
        self.stats = stats
        self.address = address
        self.is_stopping = is_stopping
        self.cluster_id = cluster_id
        self.log_dir = log_dir
        self.admin_lock = admin_lock  # shared with TopicAdmin: auto-creation creates topics
        # A broker of kcli cluster: leadership, high watermarks and acks come from here.
        self.replication = replication
        self.flushes = Flushes(run, partitions.flush)
        self.apis = APIS

    # -- ApiVersions, FindCoordinator, InitProducerId, DescribeCluster --------------------

    async def api_versions(self, conn: ConnectionStats, req: Request):
        if req.version >= 3 and req.body.client_software_name:
            conn.software = f"{req.body.client_software_name} {req.body.client_software_version}"
        return ApiVersionsResponse(
            version=req.version,
            error_code=0,
            api_keys=api_version_entries(self.apis),
            throttle_time_ms=0,
        )

    async def find_coordinator(self, conn: ConnectionStats, req: Request):
        host, port = self.address()
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
        if self.replication is not None:
            found = self.replication.coordinator(key)
            if found is None:
                return (
                    ErrorCode.COORDINATOR_NOT_AVAILABLE,
                    "the coordinator's offsets partition has no leader",
                    none,
                )
            return ErrorCode.NONE, None, found
        host, port = self.address()
        return ErrorCode.NONE, None, (NODE_ID, host, port)

    async def init_producer_id(self, conn: ConnectionStats, req: Request):
        if req.body.transactional_id is not None:
            log.info(
                "%s asked for transactional id %r: kcli serve does not support transactions",
                conn.label,
                req.body.transactional_id,
            )
            return InitProducerIdResponse(
                version=req.version,
                error_code=ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
                producer_id=-1,
                producer_epoch=-1,
            )
        if self.replication is not None:
            producer_id = await self.replication.next_producer_id()
        else:
            producer_id = await self.run(self.partitions.next_producer_id)
        return InitProducerIdResponse(
            version=req.version, error_code=0, producer_id=producer_id, producer_epoch=0
        )

    async def describe_cluster(self, conn: ConnectionStats, req: Request):
        host, port = self.address()
        return DescribeClusterResponse(
            version=req.version,
            throttle_time_ms=0,
            error_code=0,
            error_message=None,
            endpoint_type=req.body.endpoint_type,
            cluster_id=self.cluster_id,
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
        if self.replication is not None:
            return self.replication.brokers()
        host, port = self.address()
        return [(NODE_ID, host, port)]

    def _controller_id(self) -> int:
        return NODE_ID if self.replication is None else self.replication.controller_id()

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
                by_id = await self._names_of(True, ids)
            names = list(dict.fromkeys(t.name or by_id.get(t.topic_id, "") for t in body.topics))
        auto_create = self.config.auto_create_topics_enable and (
            req.version < 4 or body.allow_auto_topic_creation
        )
        if self.replication is not None:
            topics = await self._cluster_metadata_topics(names, auto_create)
        else:
            if names and auto_create:
                async with self.admin_lock:
                    infos = await self.run(self._topics_creating, names)
            else:
                infos = await self.run(self.partitions.topics, names)
            # Thousands of topics take a while to describe: built in the pool.
            topics = await self.run(_metadata_topics, infos)
        return MetadataResponse(
            version=req.version,
            throttle_time_ms=0,
            brokers=[
                MetadataResponse.MetadataResponseBroker(node_id=i, host=h, port=p, rack=None)
                for i, h, p in self._brokers()
            ],
            cluster_id=self.cluster_id,
            controller_id=self._controller_id(),
            topics=topics,
            error_code=0,
        )

    async def _cluster_topics(
        self, names: list[str] | None, auto_create: bool
    ) -> list[tuple[TopicInfo, list[PartitionMetadata]]]:
        """A cluster broker's topics, as its replica manager's metadata image has them: each
        partition's leader, leader epoch, replicas and in-sync replicas."""
        rep = self.replication
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
                partitions=[
                    part_cls(
                        error_code=0 if p.leader >= 0 else ErrorCode.LEADER_NOT_AVAILABLE,
                        partition_index=p.partition,
                        leader_id=p.leader,
                        leader_epoch=p.leader_epoch,
                        replica_nodes=p.replicas,
                        isr_nodes=p.isr,
                        offline_replicas=p.offline_replicas,
                    )
                    for p in parts
                ],
            )
            for info, parts in await self._cluster_topics(names, auto_create)
        ]

    def _topics_creating(self, names: list[str]) -> list[TopicInfo]:
        known = {t.name for t in self.partitions.topics(None)}
        topics = self.partitions.topics(names, auto_create=True)
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
        if self.replication is not None:
            found = await self._cluster_topics(names, False)
        else:
            found = [(t, None) for t in await self.run(self.partitions.topics, names)]
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
                            error_code=0 if m.leader >= 0 else ErrorCode.LEADER_NOT_AVAILABLE,
                            partition_index=m.partition,
                            leader_id=m.leader,
                            leader_epoch=m.leader_epoch,
                            replica_nodes=m.replicas,
                            isr_nodes=m.isr,
                            eligible_leader_replicas=[],
                            last_known_elr=[],
                            offline_replicas=m.offline_replicas,
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

    # -- Produce --------------------------------------------------------------------------

    async def produce(self, conn: ConnectionStats, req: Request):
        body = req.body
        if body.transactional_id is not None:
            raise CloseConnection(
                f"transactional produce from {conn.label}: kcli serve does not support transactions"
            )
        by_id = await self._names_of(req.version >= 13, [t.topic_id for t in body.topic_data])
        jobs = []
        keys = []
        epochs = []
        for topic in body.topic_data:
            name = topic.name if req.version < 13 else by_id.get(topic.topic_id)
            for part in topic.partition_data:
                keys.append((topic, name, part.index))
                epoch = -1
                if name is None:
                    jobs.append(_unknown_topic_id())
                elif self.replication is not None and (
                    error_epoch := self.replication.check_append(name, part.index, body.acks)
                )[0] != ErrorCode.NONE:
                    jobs.append(_failed(Appended(ErrorCode(error_epoch[0]))))
                else:
                    if self.replication is not None:
                        epoch = error_epoch[1]
                    # A cluster leader fsyncs after letting the next request in (_replicated).
                    fsync = self.replication is None
                    jobs.append(
                        self.run(
                            self.partitions.append, name, part.index, part.records, epoch, fsync
                        )
                    )
                epochs.append(epoch)
        results: list[Appended] = await asyncio.gather(*jobs)
        if self.replication is not None:
            await self._replicated(keys, epochs, results, body)
        failed = None
        for (_, name, partition), result in zip(keys, results, strict=True):
            if result.error == ErrorCode.NONE:
                conn.records_in += result.records
                self.stats.records_in += result.records
                self.watcher.appended((name, partition))
            else:
                failed = failed or (name, partition, result)
                log.info(
                    "produce from %s to %s-%d failed: %s%s",
                    conn.label,
                    name,
                    partition,
                    result.error.name,
                    f" ({result.message})" if result.message else "",
                )
        if body.acks == 0:
            if failed is not None:
                raise CloseConnection(
                    f"closing the connection of acks=0 producer {conn.label}: its records for "
                    f"{failed[0]}-{failed[1]} were not written ({failed[2].error.name})"
                )
            return None
        responses: dict[int, tuple[object, list]] = {}
        part_cls = ProduceResponse.TopicProduceResponse.PartitionProduceResponse
        for (topic, _, partition), result in zip(keys, results, strict=True):
            responses.setdefault(id(topic), (topic, []))[1].append(
                part_cls(
                    index=partition,
                    error_code=result.error,
                    base_offset=result.base_offset,
                    log_append_time_ms=result.log_append_time,
                    log_start_offset=result.log_start_offset,
                    record_errors=[],
                    error_message=result.message,
                )
            )
        return ProduceResponse(
            version=req.version,
            responses=[
                ProduceResponse.TopicProduceResponse(
                    name=topic.name, topic_id=topic.topic_id, partition_responses=parts
                )
                for topic, parts in responses.values()
            ],
            throttle_time_ms=0,
        )

    async def _replicated(self, keys, epochs, results: list[Appended], body) -> None:
        """Tell the replica manager what was appended, let the connection's next request in
        (see kcli.serve.pipelining), fsync the appends and, with acks=all, wait for the ISR.
        The fsyncs of appends made meanwhile on other connections share one fsync, and the
        followers fetch while it runs."""
        rep = self.replication
        for (_, name, partition), epoch, result in zip(keys, epochs, results, strict=True):
            if result.error == ErrorCode.NONE and result.records:
                rep.appended(name, partition, result.base_offset, result.end_offset, epoch)
        let_next_request_in()
        await asyncio.gather(
            *(
                self._flush(name, partition, result)
                for (_, name, partition), result in zip(keys, results, strict=True)
                if result.error == ErrorCode.NONE and result.records
            )
        )
        if body.acks != -1:
            return
        waits = [
            rep.wait_for_acks(name, p, r.end_offset, body.timeout_ms, epoch)
            if r.error == ErrorCode.NONE
            else _failed(ErrorCode.NONE)
            for (_, name, p), epoch, r in zip(keys, epochs, results, strict=True)
        ]
        errors = await asyncio.gather(*waits)
        for result, error in zip(results, errors, strict=True):
            if error != ErrorCode.NONE:
                result.error = ErrorCode(error)
                result.message = f"acks=all: {ErrorCode(error).name}"

    async def _flush(self, topic: str, partition: int, result: Appended) -> None:
        try:
            await self.flushes.flush(topic, partition)
        except (StorageError, OSError) as exc:
            result.error = error_code(exc)
            result.message = f"the append was not made durable: {exc}"

    async def _names_of(self, by_topic_id: bool, topic_ids: list) -> dict[uuid.UUID, str]:
        """Topic names for the ids of a v13+ Produce or Fetch (empty before topic ids)."""
        if not by_topic_id:
            return {}
        if self.replication is not None:
            # A cluster's topic ids are the controller's (every broker's local copy of a
            # topic has its own).
            rep = self.replication
            wanted = set(topic_ids)
            ids = {n: rep.topic_id(n) for n in rep.topic_names()}
            return {topic_uuid(i): n for n, i in ids.items() if i and topic_uuid(i) in wanted}
        return await self.run(self.partitions.topic_names, topic_ids)

    # -- Fetch ----------------------------------------------------------------------------

    async def fetch(self, conn: ConnectionStats, req: Request):
        body = req.body
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0, body.max_wait_ms) / 1000
        by_id = await self._names_of(req.version >= 13, [t.topic_id for t in body.topics])
        wanted = []
        epochs = []  # each wanted partition's current_leader_epoch (-1: not given)
        unknown: list[tuple[object, int]] = []  # v13+ partitions of topic ids that do not exist
        topic_of: dict[str, object] = {}
        for topic in body.topics:
            name = topic.topic if req.version < 13 else by_id.get(topic.topic_id)
            for part in topic.partitions:
                if name is None:
                    unknown.append((topic, part.partition))
                else:
                    topic_of[name] = topic
                    wanted.append(
                        (name, part.partition, part.fetch_offset, part.partition_max_bytes)
                    )
                    epochs.append(getattr(part, "current_leader_epoch", -1))
        max_bytes = body.max_bytes if body.max_bytes > 0 else 2**31 - 1
        first_hws = None
        while True:
            versions = {(t, p): self.watcher.version((t, p)) for t, p, _, _ in wanted}
            if self.replication is not None:
                reads = await self._cluster_read(body.replica_id, wanted, epochs, max_bytes)
            else:
                reads: list[Read] = await self.run(self.partitions.read, wanted, max_bytes)
            total = sum(len(r.records) for r in reads)
            remaining = deadline - loop.time()
            # A follower's fetch also returns when the high watermark moves, as Kafka's does,
            # so that the follower learns it within a fetch round trip.
            hws = [r.high_watermark for r in reads]
            if first_hws is None:
                first_hws = hws
            if (
                total >= max(body.min_bytes, 1)
                or (body.replica_id >= 0 and hws != first_hws)
                or remaining <= 0
                or unknown
                or any(r.error != ErrorCode.NONE for r in reads)
                or self.is_stopping()
            ):
                break
            conn.waiting = "Fetch"
            try:
                await self.watcher.wait(
                    {(r.topic, r.partition): r.log_end_offset for r in reads}, versions, remaining
                )
            finally:
                conn.waiting = ""
        records = sum(count_records(r.records) for r in reads if r.records)
        conn.records_out += records
        self.stats.records_out += records
        part_cls = FetchResponse.FetchableTopicResponse.PartitionData
        by_topic: dict[int, tuple[object, list]] = {}

        def partition(r: Read):
            return part_cls(
                partition_index=r.partition,
                error_code=r.error,
                high_watermark=r.high_watermark,
                # No transactions, so everything below the high watermark is stable.
                last_stable_offset=r.high_watermark,
                log_start_offset=r.log_start_offset,
                aborted_transactions=[],
                preferred_read_replica=-1,
                records=r.records,
            )

        for r in reads:
            topic = topic_of[r.topic]
            by_topic.setdefault(id(topic), (topic, []))[1].append(partition(r))
        for topic, p in unknown:
            by_topic.setdefault(id(topic), (topic, []))[1].append(
                partition(Read("", p, ErrorCode.UNKNOWN_TOPIC_ID))
            )
        return FetchResponse(
            version=req.version,
            throttle_time_ms=0,
            error_code=0,
            session_id=0,  # no incremental fetch sessions: clients keep sending full requests
            responses=[
                FetchResponse.FetchableTopicResponse(
                    topic=topic.topic, topic_id=topic.topic_id, partitions=parts
                )
                for topic, parts in by_topic.values()
            ],
        )

    async def _cluster_read(
        self, replica_id: int, wanted: list, epochs: list[int], max_bytes: int
    ) -> list[Read]:
        """A cluster broker's read: only the leader serves fetches; a follower (replica_id >= 0)
        reads up to the log end and learns the high watermark, a consumer up to the high
        watermark."""
        rep = self.replication
        checks = [
            rep.check_fetch(replica_id, t, p, offset, epoch)
            for (t, p, offset, _), epoch in zip(wanted, epochs, strict=True)
        ]
        allowed = [w for w, (error, _) in zip(wanted, checks, strict=True) if error == 0]
        reads = iter(await self.run(self.partitions.read, allowed, max_bytes) if allowed else [])
        out = []
        for (topic, partition, _, _), (error, upto) in zip(wanted, checks, strict=True):
            if error != 0:
                out.append(Read(topic, partition, ErrorCode(error)))
                continue
            r = next(reads)
            if r.error == ErrorCode.NONE:
                r.log_end_offset = r.high_watermark
                r.high_watermark = rep.high_watermark(topic, partition)
                if upto is not None and r.records:
                    r.records = below(r.records, upto)
            out.append(r)
        return out

    async def log_end_offsets(self, partitions: list[tuple[str, int]]) -> dict:
        return await self.run(self.partitions.log_end_offsets, partitions)

    # -- ListOffsets, OffsetForLeaderEpoch, DeleteRecords, DescribeLogDirs ----------------

    async def list_offsets(self, conn: ConnectionStats, req: Request):
        wanted = [
            (topic.name, part.partition_index, part.timestamp)
            for topic in req.body.topics
            for part in topic.partitions
        ]
        found = await self.run(self.partitions.list_offsets, wanted)
        if self.replication is not None:
            found = self._cluster_offsets(wanted, found)
        part_cls = ListOffsetsResponse.ListOffsetsTopicResponse.ListOffsetsPartitionResponse
        by_topic: dict[str, list] = {}
        for (topic, partition, _), (error, timestamp, offset) in zip(wanted, found, strict=True):
            by_topic.setdefault(topic, []).append(
                part_cls(
                    partition_index=partition,
                    error_code=error,
                    timestamp=timestamp,
                    offset=offset,
                    leader_epoch=-1,
                )
            )
        return ListOffsetsResponse(
            version=req.version,
            throttle_time_ms=0,
            topics=[
                ListOffsetsResponse.ListOffsetsTopicResponse(name=name, partitions=parts)
                for name, parts in by_topic.items()
            ],
        )

    def _cluster_offsets(self, wanted, found) -> list[tuple[int, int, int]]:
        """Only the leader answers, and the latest offset a consumer may see is the high
        watermark."""
        out = []
        for (topic, partition, timestamp), (error, ts, offset) in zip(wanted, found, strict=True):
            check, _ = self.replication.check_fetch(-1, topic, partition, 0, -1)
            if check != 0:
                out.append((ErrorCode(check), -1, -1))
            elif error == ErrorCode.NONE and timestamp == LATEST_TIMESTAMP:
                out.append((error, ts, self.replication.high_watermark(topic, partition)))
            else:
                out.append((error, ts, offset))
        return out

    async def offset_for_leader_epoch(self, conn: ConnectionStats, req: Request):
        """The end offset of the asked leader epoch.  One broker that never changes leader
        has one epoch for the log's whole life, as Metadata's leader_epoch -1 says: every
        epoch ends at the log end offset."""
        wanted = [(t.topic, p.partition) for t in req.body.topics for p in t.partitions]
        ends = await self.run(self.partitions.log_end_offsets, wanted)
        result_cls = OffsetForLeaderEpochResponse.OffsetForLeaderTopicResult
        topics: dict[str, list] = {}
        for topic, partition in wanted:
            end = ends.get((topic, partition))
            topics.setdefault(topic, []).append(
                result_cls.EpochEndOffset(
                    error_code=ErrorCode.NONE
                    if end is not None
                    else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                    partition=partition,
                    leader_epoch=0 if end is not None else -1,
                    end_offset=end if end is not None else -1,
                )
            )
        return OffsetForLeaderEpochResponse(
            version=req.version,
            throttle_time_ms=0,
            topics=[result_cls(topic=t, partitions=parts) for t, parts in topics.items()],
        )

    async def delete_records(self, conn: ConnectionStats, req: Request):
        topic_cls = DeleteRecordsResponse.DeleteRecordsTopicResult
        topics = []
        for topic in req.body.topics:
            parts = []
            for part in topic.partitions:
                error, low = await self.run(
                    self.partitions.delete_records, topic.name, part.partition_index, part.offset
                )
                if error == ErrorCode.NONE:
                    log.info(
                        "%s deleted records of %s-%d before offset %d: log start offset is %d",
                        conn.label,
                        topic.name,
                        part.partition_index,
                        part.offset,
                        low,
                    )
                parts.append(
                    topic_cls.DeleteRecordsPartitionResult(
                        partition_index=part.partition_index, low_watermark=low, error_code=error
                    )
                )
            topics.append(topic_cls(name=topic.name, partitions=parts))
        return DeleteRecordsResponse(version=req.version, throttle_time_ms=0, topics=topics)

    async def describe_log_dirs(self, conn: ConnectionStats, req: Request):
        body = req.body
        wanted = None
        if body.topics is not None:
            wanted = [(t.topic, p) for t in body.topics for p in t.partitions]
        sizes = await self.run(self.partitions.sizes, wanted)
        result_cls = DescribeLogDirsResponse.DescribeLogDirsResult
        topic_cls = result_cls.DescribeLogDirsTopic
        topics: dict[str, list] = {}
        for s in sizes:
            if s.error != ErrorCode.NONE:
                continue  # Kafka leaves out partitions this broker does not host
            topics.setdefault(s.topic, []).append(
                topic_cls.DescribeLogDirsPartition(
                    partition_index=s.partition,
                    partition_size=s.size_bytes,
                    offset_lag=0,
                    is_future_key=False,
                )
            )
        return DescribeLogDirsResponse(
            version=req.version,
            throttle_time_ms=0,
            error_code=0,
            results=[
                result_cls(
                    error_code=0,
                    log_dir=self.log_dir,
                    topics=[topic_cls(name=n, partitions=ps) for n, ps in topics.items()],
                    total_bytes=-1,
                    usable_bytes=-1,
                )
            ],
        )


def _metadata_topics(topics: list[TopicInfo]) -> list:
    return [_metadata_topic(t) for t in topics]


def _metadata_topic(t: TopicInfo):
    topic_cls = MetadataResponse.MetadataResponseTopic
    part_cls = topic_cls.MetadataResponsePartition
    # leader_epoch -1: the epoch is unknown, so clients do not try to validate positions with
    # OffsetForLeaderEpoch; a single broker that never changes leader needs no validation.
    return topic_cls(
        error_code=t.error,
        name=t.name,
        topic_id=t.topic_id,
        is_internal=False,
        partitions=[
            part_cls(
                error_code=0,
                partition_index=p,
                leader_id=NODE_ID,
                leader_epoch=-1,
                replica_nodes=[NODE_ID],
                isr_nodes=[NODE_ID],
                offline_replicas=[],
            )
            for p in range(t.partitions)
        ],
    )


def _one_broker(partition: int) -> PartitionMetadata:
    """A partition of kcli serve: this broker leads it and is its only replica."""
    return PartitionMetadata(partition, NODE_ID, -1, [NODE_ID], [NODE_ID], [])


def _check_count(api: str, what: str, count: int, limit: int) -> None:
    if count > limit:
        raise RequestLimitExceeded(
            f"its {api} request names {count} {what}; kcli serve answers at most {limit} "
            f"per request"
        )


async def _unknown_topic_id() -> Appended:
    return Appended(ErrorCode.UNKNOWN_TOPIC_ID, message="no topic has this topic id")
