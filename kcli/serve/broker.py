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
from kcli.serve.fetch_wait import AppendWatcher
from kcli.serve.partitions import Appended, Partitions, Read, TopicInfo, count_records
from kcli.serve.protocol import (
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
from kcli.serve.stats import ConnectionStats, ServerStats

log = logging.getLogger("kcli.serve")

# FindCoordinator key types.
KEY_TYPE_GROUP = 0


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

    # -- ApiVersions, FindCoordinator, InitProducerId, DescribeCluster --------------------

    async def api_versions(self, conn: ConnectionStats, req: Request):
        if req.version >= 3 and req.body.client_software_name:
            conn.software = f"{req.body.client_software_name} {req.body.client_software_version}"
        return ApiVersionsResponse(
            version=req.version, error_code=0, api_keys=api_version_entries(), throttle_time_ms=0
        )

    async def find_coordinator(self, conn: ConnectionStats, req: Request):
        host, port = self.address()
        body = req.body
        if req.version < 4:
            error, message = self._coordinator_error(body.key_type)
            return FindCoordinatorResponse(
                version=req.version,
                throttle_time_ms=0,
                error_code=error,
                error_message=message,
                node_id=NODE_ID if error == ErrorCode.NONE else -1,
                host=host if error == ErrorCode.NONE else "",
                port=port if error == ErrorCode.NONE else -1,
            )
        coordinators = []
        for key in body.coordinator_keys:
            error, message = self._coordinator_error(body.key_type)
            ok = error == ErrorCode.NONE
            coordinators.append(
                FindCoordinatorResponse.Coordinator(
                    key=key,
                    node_id=NODE_ID if ok else -1,
                    host=host if ok else "",
                    port=port if ok else -1,
                    error_code=error,
                    error_message=message,
                )
            )
        return FindCoordinatorResponse(
            version=req.version, throttle_time_ms=0, coordinators=coordinators
        )

    @staticmethod
    def _coordinator_error(key_type: int) -> tuple[ErrorCode, str | None]:
        if key_type == KEY_TYPE_GROUP:
            return ErrorCode.NONE, None
        return (
            ErrorCode.COORDINATOR_NOT_AVAILABLE,
            "kcli serve has a group coordinator only (no transactions, no share groups)",
        )

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
            controller_id=NODE_ID,
            brokers=[
                DescribeClusterResponse.DescribeClusterBroker(
                    broker_id=NODE_ID, host=host, port=port, rack=None, is_fenced=False
                )
            ],
        )

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
                by_id = await self.run(self.partitions.topic_names, ids)
            names = list(dict.fromkeys(t.name or by_id.get(t.topic_id, "") for t in body.topics))
        auto_create = self.config.auto_create_topics_enable and (
            req.version < 4 or body.allow_auto_topic_creation
        )
        if names and auto_create:
            async with self.admin_lock:
                topics = await self.run(self._topics_creating, names)
        else:
            topics = await self.run(self.partitions.topics, names)
        host, port = self.address()
        broker = MetadataResponse.MetadataResponseBroker(
            node_id=NODE_ID, host=host, port=port, rack=None
        )
        return MetadataResponse(
            version=req.version,
            throttle_time_ms=0,
            brokers=[broker],
            cluster_id=self.cluster_id,
            controller_id=NODE_ID,
            # Thousands of topics take a while to describe: built in the pool.
            topics=await self.run(_metadata_topics, topics),
            error_code=0,
        )

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
        topics = sorted(await self.run(self.partitions.topics, names), key=lambda t: t.name)
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
                    is_internal=False,
                    partitions=[
                        part_cls(
                            error_code=0,
                            partition_index=p,
                            leader_id=NODE_ID,
                            leader_epoch=-1,
                            replica_nodes=[NODE_ID],
                            isr_nodes=[NODE_ID],
                            eligible_leader_replicas=[],
                            last_known_elr=[],
                            offline_replicas=[],
                        )
                        for p in range(first, last)
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
        for topic in body.topic_data:
            name = topic.name if req.version < 13 else by_id.get(topic.topic_id)
            for part in topic.partition_data:
                keys.append((topic, name, part.index))
                if name is None:
                    jobs.append(_unknown_topic_id())
                else:
                    jobs.append(self.run(self.partitions.append, name, part.index, part.records))
        results: list[Appended] = await asyncio.gather(*jobs)
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

    async def _names_of(self, by_topic_id: bool, topic_ids: list) -> dict[uuid.UUID, str]:
        """Topic names for the ids of a v13+ Produce or Fetch (empty before topic ids)."""
        if not by_topic_id:
            return {}
        return await self.run(self.partitions.topic_names, topic_ids)

    # -- Fetch ----------------------------------------------------------------------------

    async def fetch(self, conn: ConnectionStats, req: Request):
        body = req.body
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0, body.max_wait_ms) / 1000
        by_id = await self._names_of(req.version >= 13, [t.topic_id for t in body.topics])
        wanted = []
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
        max_bytes = body.max_bytes if body.max_bytes > 0 else 2**31 - 1
        while True:
            versions = {(t, p): self.watcher.version((t, p)) for t, p, _, _ in wanted}
            reads: list[Read] = await self.run(self.partitions.read, wanted, max_bytes)
            total = sum(len(r.records) for r in reads)
            remaining = deadline - loop.time()
            if (
                total >= max(body.min_bytes, 1)
                or remaining <= 0
                or unknown
                or any(r.error != ErrorCode.NONE for r in reads)
                or self.is_stopping()
            ):
                break
            conn.waiting = "Fetch"
            try:
                await self.watcher.wait(
                    {(r.topic, r.partition): r.high_watermark for r in reads}, versions, remaining
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


def _check_count(api: str, what: str, count: int, limit: int) -> None:
    if count > limit:
        raise RequestLimitExceeded(
            f"its {api} request names {count} {what}; kcli serve answers at most {limit} "
            f"per request"
        )


async def _unknown_topic_id() -> Appended:
    return Appended(ErrorCode.UNKNOWN_TOPIC_ID, message="no topic has this topic id")
