"""The data side of the broker: metadata, produce, fetch, offsets, topics and configs.

Every handler takes the connection it serves and a decoded request and returns a
kafka.protocol response (or None when the client expects no answer).  Work that touches the
disk runs in the server's thread pool, so a long fsync or read never stalls other clients.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass

from kcli.serve.config import NODE_ID, BrokerConfig
from kcli.serve.fetch_wait import AppendWatcher
from kcli.serve.protocol import (
    ApiVersionsResponse,
    CreatePartitionsResponse,
    CreateTopicsResponse,
    DeleteTopicsResponse,
    DescribeConfigsResponse,
    ErrorCode,
    FetchResponse,
    FindCoordinatorResponse,
    IncrementalAlterConfigsResponse,
    InitProducerIdResponse,
    ListOffsetsResponse,
    MetadataResponse,
    ProduceResponse,
    Request,
    api_version_entries,
)
from kcli.serve.stats import ConnectionStats, ServerStats
from storage import (
    CorruptRecord,
    InvalidConfig,
    InvalidPartitions,
    InvalidTopicName,
    OffsetOutOfRange,
    PartitionNotFound,
    RecordTooLarge,
    StorageError,
    Store,
    TopicAlreadyExists,
    TopicNotFound,
    validate_topic_name,
)
from storage.constants import BATCH_HEADER_SIZE, LENGTH_POS, LOG_OVERHEAD, RECORDS_COUNT_POS
from storage.errors import InvalidProducerEpoch, OutOfOrderSequence
from storage.records import split_batches
from storage.store import MAX_PARTITIONS
from storage.topic_config import config_from_user

log = logging.getLogger("kcli.serve")

_INT32 = struct.Struct(">i")
# ListOffsets' special timestamps.
LATEST_TIMESTAMP = -1
EARLIEST_TIMESTAMP = -2
# DescribeConfigs resource types and config sources (Kafka's ConfigResource / ConfigSource).
RESOURCE_TOPIC = 2
RESOURCE_BROKER = 4
SOURCE_DYNAMIC_TOPIC_CONFIG = 1
SOURCE_STATIC_BROKER_CONFIG = 4
SOURCE_DEFAULT_CONFIG = 5
# IncrementalAlterConfigs operations.
CONFIG_OPERATIONS = {0: "SET", 1: "DELETE", 2: "APPEND", 3: "SUBTRACT"}
# DescribeConfigs v3 config types.
TYPE_BOOLEAN, TYPE_STRING, TYPE_INT, TYPE_LONG, TYPE_LIST = 1, 2, 3, 5, 7
_TOPIC_CONFIG_TYPES = {
    "retention.ms": TYPE_LONG,
    "retention.bytes": TYPE_LONG,
    "segment.bytes": TYPE_INT,
    "segment.ms": TYPE_LONG,
    "max.message.bytes": TYPE_INT,
    "index.interval.bytes": TYPE_INT,
    "cleanup.policy": TYPE_LIST,
    "message.timestamp.type": TYPE_STRING,
}


def error_code(exc: BaseException) -> ErrorCode:
    """The Kafka error code for a storage error."""
    if isinstance(exc, (TopicNotFound, PartitionNotFound)):
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    if isinstance(exc, TopicAlreadyExists):
        return ErrorCode.TOPIC_ALREADY_EXISTS
    if isinstance(exc, InvalidTopicName):
        return ErrorCode.INVALID_TOPIC_EXCEPTION
    if isinstance(exc, InvalidPartitions):
        return ErrorCode.INVALID_PARTITIONS
    if isinstance(exc, InvalidConfig):
        return ErrorCode.INVALID_CONFIG
    if isinstance(exc, OffsetOutOfRange):
        return ErrorCode.OFFSET_OUT_OF_RANGE
    if isinstance(exc, RecordTooLarge):
        return ErrorCode.MESSAGE_TOO_LARGE
    if isinstance(exc, CorruptRecord):
        return ErrorCode.CORRUPT_MESSAGE
    if isinstance(exc, OutOfOrderSequence):
        return ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    if isinstance(exc, InvalidProducerEpoch):
        return ErrorCode.INVALID_PRODUCER_EPOCH
    return ErrorCode.UNKNOWN_SERVER_ERROR


def count_records(data: bytes | memoryview) -> int:
    """Records in concatenated batches, read from their headers (nothing is decoded)."""
    total = 0
    pos = 0
    end = len(data)
    while pos + BATCH_HEADER_SIZE <= end:
        total += _INT32.unpack_from(data, pos + RECORDS_COUNT_POS)[0]
        pos += _INT32.unpack_from(data, pos + LENGTH_POS)[0] + LOG_OVERHEAD
    return total


class CloseConnection(Exception):
    """A request after which the connection must be closed (Kafka's way to tell an acks=0
    producer that its records were not written)."""


@dataclass
class _Appended:
    error: ErrorCode
    base_offset: int = -1
    log_append_time: int = -1
    log_start_offset: int = -1
    records: int = 0
    message: str | None = None


@dataclass
class _Read:
    topic: str
    partition: int
    error: ErrorCode
    high_watermark: int = -1
    log_start_offset: int = -1
    records: bytes = b""


class Broker:
    """Handlers for every API except the group coordinator's."""

    def __init__(
        self,
        store: Store,
        config: BrokerConfig,
        *,
        run: Callable,
        watcher: AppendWatcher,
        stats: ServerStats,
        address: Callable[[], tuple[str, int]],
        is_stopping: Callable[[], bool],
    ):
        self.store = store
        self.config = config
        self.run = run  # run(fn, *args) -> awaitable result of fn in the thread pool
        self.watcher = watcher
        self.stats = stats
        self.address = address
        self.is_stopping = is_stopping
        self.cluster_id = store.cluster_id
        # Store.next_producer_id's lock file keeps processes apart, not threads of this one.
        self._producer_id_mutex = threading.Lock()
        # Topic creation and deletion take the store's lock file, which does not exclude
        # threads of one process from each other: serialise them here.
        self.admin_lock = asyncio.Lock()

    # -- ApiVersions, FindCoordinator, InitProducerId ------------------------------------

    async def api_versions(self, conn: ConnectionStats, req: Request):
        if req.version >= 3 and req.body.client_software_name:
            conn.software = f"{req.body.client_software_name} {req.body.client_software_version}"
        return ApiVersionsResponse(
            version=req.version, error_code=0, api_keys=api_version_entries(), throttle_time_ms=0
        )

    async def find_coordinator(self, conn: ConnectionStats, req: Request):
        host, port = self.address()
        return FindCoordinatorResponse(
            version=req.version,
            throttle_time_ms=0,
            error_code=0,
            error_message=None,
            node_id=NODE_ID,
            host=host,
            port=port,
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
        producer_id = await self.run(self._next_producer_id)
        return InitProducerIdResponse(
            version=req.version, error_code=0, producer_id=producer_id, producer_epoch=0
        )

    def _next_producer_id(self) -> int:
        with self._producer_id_mutex:
            return self.store.next_producer_id()

    # -- Metadata -------------------------------------------------------------------------

    async def metadata(self, conn: ConnectionStats, req: Request):
        body = req.body
        names = None if body.topics is None else [t.name for t in body.topics]
        auto_create = self.config.auto_create_topics_enable and (
            req.version < 4 or body.allow_auto_topic_creation
        )
        if names and auto_create:
            async with self.admin_lock:
                topics = await self.run(self._metadata_topics, names, True)
        else:
            topics = await self.run(self._metadata_topics, names, False)
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
            topics=topics,
        )

    def _metadata_topics(self, names: list[str] | None, auto_create: bool) -> list:
        topic_cls = MetadataResponse.MetadataResponseTopic
        if names is None:
            metas = self.store.topics()
            return [self._topic_metadata(m.name, m.partitions) for m in metas]
        out = []
        for name in names:
            try:
                validate_topic_name(name)
                if self.store.topic_exists(name):
                    meta = self.store.topic(name)
                elif auto_create:
                    meta = self.store.create_topic(
                        name, self.config.num_partitions, if_not_exists=True
                    )
                    log.info(
                        "created topic '%s' with %d partition(s) (auto.create.topics.enable)",
                        name,
                        meta.partitions,
                    )
                else:
                    raise TopicNotFound(f"topic '{name}' does not exist")
                out.append(self._topic_metadata(meta.name, meta.partitions))
            except StorageError as exc:
                out.append(
                    topic_cls(
                        error_code=error_code(exc), name=name, is_internal=False, partitions=[]
                    )
                )
        return out

    @staticmethod
    def _topic_metadata(name: str, partitions: int):
        part_cls = MetadataResponse.MetadataResponseTopic.MetadataResponsePartition
        # leader_epoch -1: the epoch is unknown, so clients do not try to validate positions
        # with OffsetForLeaderEpoch, which a single broker that never changes leader lacks.
        parts = [
            part_cls(
                error_code=0,
                partition_index=p,
                leader_id=NODE_ID,
                leader_epoch=-1,
                replica_nodes=[NODE_ID],
                isr_nodes=[NODE_ID],
                offline_replicas=[],
            )
            for p in range(partitions)
        ]
        return MetadataResponse.MetadataResponseTopic(
            error_code=0, name=name, is_internal=False, partitions=parts
        )

    # -- Produce --------------------------------------------------------------------------

    async def produce(self, conn: ConnectionStats, req: Request):
        body = req.body
        if body.transactional_id is not None:
            raise CloseConnection(
                f"transactional produce from {conn.label}: kcli serve does not support transactions"
            )
        jobs = []
        keys = []
        for topic in body.topic_data:
            for part in topic.partition_data:
                keys.append((topic.name, part.index))
                jobs.append(self.run(self._append, topic.name, part.index, part.records))
        results: list[_Appended] = await asyncio.gather(*jobs)
        failed = None
        for (topic, partition), result in zip(keys, results, strict=True):
            if result.error == ErrorCode.NONE:
                conn.records_in += result.records
                self.stats.records_in += result.records
                self.watcher.appended((topic, partition))
            else:
                failed = failed or (topic, partition, result)
                log.info(
                    "produce from %s to %s-%d failed: %s%s",
                    conn.label,
                    topic,
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
        responses = {}
        part_cls = ProduceResponse.TopicProduceResponse.PartitionProduceResponse
        for (topic, partition), result in zip(keys, results, strict=True):
            responses.setdefault(topic, []).append(
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
                ProduceResponse.TopicProduceResponse(name=name, partition_responses=parts)
                for name, parts in responses.items()
            ],
            throttle_time_ms=0,
        )

    def _append(self, topic: str, partition: int, records: bytes | None) -> _Appended:
        try:
            log_ = self.store.log(topic, partition)
            if not records:
                raise CorruptRecord("the request holds no record batch")
            batches = split_batches(records)
            count = sum(_INT32.unpack_from(b, RECORDS_COUNT_POS)[0] for b in batches)
            info = log_.append(batches)
        except StorageError as exc:
            return _Appended(error_code(exc), message=str(exc))
        if getattr(info, "duplicate", False):
            # An idempotent producer resent a batch the log already holds: acknowledge it
            # again with its original offsets, as Kafka does.
            count = 0
        return _Appended(
            ErrorCode.NONE,
            base_offset=info.base_offset,
            log_append_time=info.log_append_time,
            log_start_offset=info.log_start_offset,
            records=count,
        )

    # -- Fetch ----------------------------------------------------------------------------

    async def fetch(self, conn: ConnectionStats, req: Request):
        body = req.body
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0, body.max_wait_ms) / 1000
        wanted = [
            (topic.topic, part.partition, part.fetch_offset, part.partition_max_bytes)
            for topic in body.topics
            for part in topic.partitions
        ]
        max_bytes = body.max_bytes if body.max_bytes > 0 else 2**31 - 1
        while True:
            versions = {(t, p): self.watcher.version((t, p)) for t, p, _, _ in wanted}
            reads: list[_Read] = await self.run(self._read, wanted, max_bytes)
            total = sum(len(r.records) for r in reads)
            remaining = deadline - loop.time()
            if (
                total >= max(body.min_bytes, 1)
                or remaining <= 0
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
        by_topic: dict[str, list] = {}
        part_cls = FetchResponse.FetchableTopicResponse.PartitionData
        for r in reads:
            by_topic.setdefault(r.topic, []).append(
                part_cls(
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
            )
        return FetchResponse(
            version=req.version,
            throttle_time_ms=0,
            error_code=0,
            session_id=0,  # no incremental fetch sessions: clients keep sending full requests
            responses=[
                FetchResponse.FetchableTopicResponse(topic=topic, partitions=parts)
                for topic, parts in by_topic.items()
            ],
        )

    def _read(self, wanted: list[tuple[str, int, int, int]], max_bytes: int) -> list[_Read]:
        out = []
        remaining = max_bytes
        have_data = False
        for topic, partition, offset, partition_max_bytes in wanted:
            try:
                log_ = self.store.log(topic, partition)
                limit = min(partition_max_bytes, remaining)
                if have_data and limit <= 0:
                    out.append(
                        _Read(
                            topic,
                            partition,
                            ErrorCode.NONE,
                            log_.log_end_offset,
                            log_.log_start_offset,
                        )
                    )
                    continue
                result = log_.read(offset, max(limit, 1))
                data = result.records
                # Only the first partition with data may exceed the limits (so that a consumer
                # always makes progress); later ones wait for the next fetch.
                if have_data and len(data) > limit:
                    data = b""
                if data:
                    have_data = True
                    remaining -= len(data)
                out.append(
                    _Read(
                        topic,
                        partition,
                        ErrorCode.NONE,
                        result.high_watermark,
                        result.log_start_offset,
                        data,
                    )
                )
            except OffsetOutOfRange as exc:
                out.append(
                    _Read(
                        topic,
                        partition,
                        ErrorCode.OFFSET_OUT_OF_RANGE,
                        exc.log_end_offset,
                        exc.log_start_offset,
                    )
                )
            except StorageError as exc:
                out.append(_Read(topic, partition, error_code(exc)))
        return out

    async def log_end_offsets(self, partitions: list[tuple[str, int]]) -> dict:
        return await self.run(self._log_end_offsets, partitions)

    def _log_end_offsets(self, partitions: list[tuple[str, int]]) -> dict:
        out = {}
        for topic, partition in partitions:
            try:
                out[(topic, partition)] = self.store.log(topic, partition).log_end_offset
            except StorageError:
                pass
        return out

    # -- ListOffsets ----------------------------------------------------------------------

    async def list_offsets(self, conn: ConnectionStats, req: Request):
        wanted = [
            (topic.name, part.partition_index, part.timestamp)
            for topic in req.body.topics
            for part in topic.partitions
        ]
        found = await self.run(self._list_offsets, wanted)
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

    def _list_offsets(self, wanted) -> list[tuple[int, int, int]]:
        out = []
        for topic, partition, timestamp in wanted:
            try:
                log_ = self.store.log(topic, partition)
                if timestamp == LATEST_TIMESTAMP:
                    out.append((ErrorCode.NONE, -1, log_.log_end_offset))
                elif timestamp == EARLIEST_TIMESTAMP:
                    out.append((ErrorCode.NONE, -1, log_.log_start_offset))
                elif timestamp < 0:
                    out.append((ErrorCode.INVALID_REQUEST, -1, -1))
                else:
                    offset = log_.offset_for_time(timestamp)
                    if offset is None:
                        out.append((ErrorCode.NONE, -1, -1))
                    else:
                        records = log_.read_records(offset, 1)
                        ts = records[0].timestamp if records else -1
                        out.append((ErrorCode.NONE, ts, offset))
            except StorageError as exc:
                out.append((error_code(exc), -1, -1))
        return out

    # -- CreateTopics / DeleteTopics ------------------------------------------------------

    async def create_topics(self, conn: ConnectionStats, req: Request):
        body = req.body
        results = []
        async with self.admin_lock:
            for topic in body.topics:
                error, message = await self.run(self._create_topic, topic, body.validate_only)
                if error == ErrorCode.NONE and not body.validate_only:
                    log.info("%s created topic '%s'", conn.label, topic.name)
                results.append(
                    CreateTopicsResponse.CreatableTopicResult(
                        name=topic.name, error_code=error, error_message=message
                    )
                )
        return CreateTopicsResponse(version=req.version, throttle_time_ms=0, topics=results)

    def _create_topic(self, topic, validate_only: bool) -> tuple[ErrorCode, str | None]:
        partitions = topic.num_partitions
        if topic.assignments:
            if any(list(a.broker_ids) != [NODE_ID] for a in topic.assignments):
                return (
                    ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                    f"kcli serve is a single broker (id {NODE_ID}); every replica list must be [0]",
                )
            partitions = len(topic.assignments)
        elif partitions == -1:
            partitions = self.config.num_partitions
        if topic.replication_factor not in (-1, 1) and not topic.assignments:
            return (
                ErrorCode.INVALID_REPLICATION_FACTOR,
                f"replication factor {topic.replication_factor} is impossible on kcli serve, "
                f"a single broker: use 1 (or -1 for the default)",
            )
        configs = {c.name: c.value for c in topic.configs if c.value is not None}
        try:
            if validate_only:
                validate_topic_name(topic.name)
                if not 1 <= partitions <= MAX_PARTITIONS:
                    raise InvalidPartitions(
                        f"partition count must be from 1 to {MAX_PARTITIONS}; got {partitions}"
                    )
                config_from_user(configs)
                if self.store.topic_exists(topic.name):
                    raise TopicAlreadyExists(f"topic '{topic.name}' already exists")
            else:
                self.store.create_topic(topic.name, partitions, configs)
        except StorageError as exc:
            return error_code(exc), str(exc)
        return ErrorCode.NONE, None

    async def delete_topics(self, conn: ConnectionStats, req: Request):
        results = []
        async with self.admin_lock:
            for name in req.body.topic_names:
                try:
                    await self.run(self.store.delete_topic, name)
                    error = ErrorCode.NONE
                    log.info("%s deleted topic '%s'", conn.label, name)
                except StorageError as exc:
                    error = error_code(exc)
                results.append(
                    DeleteTopicsResponse.DeletableTopicResult(name=name, error_code=error)
                )
        self.watcher.wake_all()  # fetches waiting on a deleted topic report it now
        return DeleteTopicsResponse(version=req.version, throttle_time_ms=0, responses=results)

    # -- CreatePartitions / IncrementalAlterConfigs ----------------------------------------

    async def create_partitions(self, conn: ConnectionStats, req: Request):
        body = req.body
        results = []
        async with self.admin_lock:
            for topic in body.topics:
                error, message = await self.run(self._create_partitions, topic, body.validate_only)
                if error == ErrorCode.NONE and not body.validate_only:
                    log.info(
                        "%s grew topic '%s' to %d partitions", conn.label, topic.name, topic.count
                    )
                results.append(
                    CreatePartitionsResponse.CreatePartitionsTopicResult(
                        name=topic.name, error_code=error, error_message=message
                    )
                )
        return CreatePartitionsResponse(version=req.version, throttle_time_ms=0, results=results)

    def _create_partitions(self, topic, validate_only: bool) -> tuple[ErrorCode, str | None]:
        if topic.assignments and any(list(a.broker_ids) != [NODE_ID] for a in topic.assignments):
            return (
                ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                f"kcli serve is a single broker (id {NODE_ID}); every replica list must be [0]",
            )
        try:
            meta = self.store.topic(topic.name)
            if topic.count == meta.partitions:
                # Kafka refuses a request that changes nothing; the store would accept it.
                return (
                    ErrorCode.INVALID_PARTITIONS,
                    f"topic '{topic.name}' already has {meta.partitions} partitions",
                )
            if validate_only:
                if topic.count < meta.partitions:
                    # The store refuses a shrink before writing anything: its error is the answer.
                    self.store.alter_topic(topic.name, partitions=topic.count)
                if topic.count > MAX_PARTITIONS:
                    raise InvalidPartitions(
                        f"partition count must be from 1 to {MAX_PARTITIONS}; got {topic.count}"
                    )
            else:
                self.store.alter_topic(topic.name, partitions=topic.count)
        except StorageError as exc:
            return error_code(exc), str(exc)
        return ErrorCode.NONE, None

    async def incremental_alter_configs(self, conn: ConnectionStats, req: Request):
        body = req.body
        responses = []
        async with self.admin_lock:
            for resource in body.resources:
                error, message = await self.run(self._alter_configs, resource, body.validate_only)
                if error == ErrorCode.NONE and not body.validate_only:
                    log.info(
                        "%s set %s on topic '%s'",
                        conn.label,
                        ", ".join(f"{c.name}={c.value}" for c in resource.configs),
                        resource.resource_name,
                    )
                responses.append(
                    IncrementalAlterConfigsResponse.AlterConfigsResourceResponse(
                        error_code=error,
                        error_message=message,
                        resource_type=resource.resource_type,
                        resource_name=resource.resource_name,
                    )
                )
        return IncrementalAlterConfigsResponse(
            version=req.version, throttle_time_ms=0, responses=responses
        )

    def _alter_configs(self, resource, validate_only: bool) -> tuple[ErrorCode, str | None]:
        if resource.resource_type != RESOURCE_TOPIC:
            return (
                ErrorCode.INVALID_REQUEST,
                f"kcli serve alters topic configs (resource type {RESOURCE_TOPIC}) only; broker "
                f"configs are set with kcli serve --config KEY=VALUE at start",
            )
        changes: dict[str, str] = {}
        for c in resource.configs:
            if c.config_operation != 0:
                op = CONFIG_OPERATIONS.get(c.config_operation, str(c.config_operation))
                # The store keeps overrides it can set, not a way to drop one.
                return (
                    ErrorCode.INVALID_REQUEST,
                    f"kcli serve can SET topic configs, not {op} them ('{c.name}')",
                )
            if c.value is None:
                return ErrorCode.INVALID_CONFIG, f"setting '{c.name}' needs a value"
            changes[c.name] = c.value
        try:
            meta = self.store.topic(resource.resource_name)
            if validate_only:
                meta.config.with_overrides(changes)
            elif changes:
                self.store.alter_topic(resource.resource_name, config=changes)
        except StorageError as exc:
            return error_code(exc), str(exc)
        return ErrorCode.NONE, None

    # -- DescribeConfigs ------------------------------------------------------------------

    async def describe_configs(self, conn: ConnectionStats, req: Request):
        results = []
        for resource in req.body.resources:
            results.append(await self.run(self._describe_config, resource))
        return DescribeConfigsResponse(version=req.version, throttle_time_ms=0, results=results)

    def _describe_config(self, resource):
        result_cls = DescribeConfigsResponse.DescribeConfigsResult
        entry_cls = result_cls.DescribeConfigsResourceResult
        keys = resource.configuration_keys
        entries = []
        try:
            if resource.resource_type == RESOURCE_TOPIC:
                meta = self.store.topic(resource.resource_name)
                for name, value in meta.config.to_kafka().items():
                    overridden = name in meta.overrides
                    entries.append(
                        (
                            name,
                            str(value),
                            SOURCE_DYNAMIC_TOPIC_CONFIG if overridden else SOURCE_DEFAULT_CONFIG,
                            _TOPIC_CONFIG_TYPES.get(name, TYPE_STRING),
                        )
                    )
            elif resource.resource_type == RESOURCE_BROKER:
                if resource.resource_name not in ("", str(NODE_ID)):
                    return result_cls(
                        error_code=ErrorCode.INVALID_REQUEST,
                        error_message=f"kcli serve is broker {NODE_ID}; there is no broker "
                        f"'{resource.resource_name}'",
                        resource_type=resource.resource_type,
                        resource_name=resource.resource_name,
                        configs=[],
                    )
                for name, value in self.config.to_kafka().items():
                    is_bool = isinstance(value, bool)
                    entries.append(
                        (
                            name,
                            str(value).lower() if is_bool else str(value),
                            SOURCE_STATIC_BROKER_CONFIG,
                            TYPE_BOOLEAN if is_bool else TYPE_LONG,
                        )
                    )
            else:
                return result_cls(
                    error_code=ErrorCode.INVALID_REQUEST,
                    error_message=f"kcli serve describes topics (2) and brokers (4), not "
                    f"resource type {resource.resource_type}",
                    resource_type=resource.resource_type,
                    resource_name=resource.resource_name,
                    configs=[],
                )
        except StorageError as exc:
            return result_cls(
                error_code=error_code(exc),
                error_message=str(exc),
                resource_type=resource.resource_type,
                resource_name=resource.resource_name,
                configs=[],
            )
        return result_cls(
            error_code=0,
            error_message=None,
            resource_type=resource.resource_type,
            resource_name=resource.resource_name,
            configs=[
                entry_cls(
                    name=name,
                    value=value,
                    read_only=resource.resource_type == RESOURCE_BROKER,
                    config_source=source,
                    is_sensitive=False,
                    synonyms=[],
                    config_type=config_type,
                    documentation=None,
                )
                for name, value, source, config_type in entries
                if keys is None or name in keys
            ],
        )
