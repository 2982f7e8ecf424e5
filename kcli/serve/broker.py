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
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass

from kcli.serve.config import NODE_ID, BrokerConfig
from kcli.serve.errors import error_code
from kcli.serve.fetch_wait import AppendWatcher
from kcli.serve.protocol import (
    APIS,
    ApiVersionsResponse,
    ErrorCode,
    FetchResponse,
    FindCoordinatorResponse,
    InitProducerIdResponse,
    ListOffsetsResponse,
    MetadataResponse,
    ProduceResponse,
    Request,
    api_version_entries,
    cluster_apis,
)
from kcli.serve.replication import Replication
from kcli.serve.stats import ConnectionStats, ServerStats
from kcli.serve.topic_admin import TopicAdmin
from storage import (
    CorruptRecord,
    OffsetOutOfRange,
    StorageError,
    Store,
    TopicNotFound,
    validate_topic_name,
)
from storage.constants import BATCH_HEADER_SIZE, LENGTH_POS, LOG_OVERHEAD, RECORDS_COUNT_POS
from storage.leader_epoch import stamp_leader_epoch
from storage.records import split_batches

log = logging.getLogger("kcli.serve")

_INT32 = struct.Struct(">i")
_INT64 = struct.Struct(">q")
# ListOffsets' special timestamps.
LATEST_TIMESTAMP = -1
EARLIEST_TIMESTAMP = -2


def _below(data: bytes, offset: int) -> bytes:
    """The whole batches of ``data`` that end before ``offset`` (a consumer never reads past
    the high watermark)."""
    pos = 0
    end = len(data)
    while pos + BATCH_HEADER_SIZE <= end:
        base = _INT64.unpack_from(data, pos)[0]
        if base >= offset:
            break
        pos += _INT32.unpack_from(data, pos + LENGTH_POS)[0] + LOG_OVERHEAD
    return data if pos >= end else data[:pos]


def count_records(data: bytes | memoryview) -> int:
    """Records in concatenated batches, read from their headers (nothing is decoded)."""
    total = 0
    pos = 0
    end = len(data)
    while pos + BATCH_HEADER_SIZE <= end:
        total += _INT32.unpack_from(data, pos + RECORDS_COUNT_POS)[0]
        pos += _INT32.unpack_from(data, pos + LENGTH_POS)[0] + LOG_OVERHEAD
    return total


async def _failed(value):
    return value


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
    end_offset: int = -1


@dataclass
class _Read:
    topic: str
    partition: int
    error: ErrorCode
    high_watermark: int = -1
    log_start_offset: int = -1
    records: bytes = b""
    log_end_offset: int = -1

    def __post_init__(self):
        if self.log_end_offset < 0:
            self.log_end_offset = self.high_watermark


class Broker(TopicAdmin):
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
        replication: Replication | None = None,
    ):
        self.store = store
        self.config = config
        self.run = run  # run(fn, *args) -> awaitable result of fn in the thread pool
        self.watcher = watcher
        self.stats = stats
        self.address = address
        self.is_stopping = is_stopping
        # A broker of kcli cluster: leadership, high watermarks and acks come from here.
        self.replication = replication
        self.apis = APIS if replication is None else cluster_apis()
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
            version=req.version,
            error_code=0,
            api_keys=api_version_entries(self.apis),
            throttle_time_ms=0,
        )

    async def find_coordinator(self, conn: ConnectionStats, req: Request):
        node_id = NODE_ID
        host, port = self.address()
        if self.replication is not None:
            found = self.replication.coordinator(req.body.key)
            if found is None:
                return FindCoordinatorResponse(
                    version=req.version,
                    throttle_time_ms=0,
                    error_code=ErrorCode.COORDINATOR_NOT_AVAILABLE,
                    error_message="the coordinator's offsets partition has no leader",
                    node_id=-1,
                    host="",
                    port=-1,
                )
            node_id, host, port = found
        return FindCoordinatorResponse(
            version=req.version,
            throttle_time_ms=0,
            error_code=0,
            error_message=None,
            node_id=node_id,
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
        if self.replication is not None:
            producer_id = await self.replication.next_producer_id()
        else:
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
        if self.replication is not None:
            return await self._cluster_metadata(req, names, auto_create)
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

    async def _cluster_metadata(self, req: Request, names: list[str] | None, auto_create: bool):
        """Metadata of a cluster broker: the live brokers and each partition's leader, replicas
        and in-sync replicas, as the replica manager's metadata image has them."""
        rep = self.replication
        topic_cls = MetadataResponse.MetadataResponseTopic
        part_cls = topic_cls.MetadataResponsePartition
        topics = []
        for name in rep.topic_names() if names is None else names:
            try:
                validate_topic_name(name)
            except StorageError as exc:
                topics.append(topic_cls(error_code=error_code(exc), name=name, partitions=[]))
                continue
            parts = rep.topic_metadata(name)
            if parts is None and auto_create:
                if await rep.auto_create(name):
                    parts = rep.topic_metadata(name)
            if parts is None:
                topics.append(
                    topic_cls(
                        error_code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                        name=name,
                        is_internal=False,
                        partitions=[],
                    )
                )
                continue
            topics.append(
                topic_cls(
                    error_code=0,
                    name=name,
                    is_internal=name.startswith("__"),
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
            )
        return MetadataResponse(
            version=req.version,
            throttle_time_ms=0,
            brokers=[
                MetadataResponse.MetadataResponseBroker(node_id=i, host=h, port=p, rack=None)
                for i, h, p in rep.brokers()
            ],
            cluster_id=self.cluster_id,
            controller_id=rep.controller_id(),
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
        epochs = []
        for topic in body.topic_data:
            for part in topic.partition_data:
                keys.append((topic.name, part.index))
                epoch = -1
                if self.replication is not None:
                    error, epoch = self.replication.check_append(topic.name, part.index, body.acks)
                    if error != ErrorCode.NONE:
                        jobs.append(_failed(_Appended(ErrorCode(error))))
                        epochs.append(epoch)
                        continue
                epochs.append(epoch)
                jobs.append(self.run(self._append, topic.name, part.index, part.records, epoch))
        results: list[_Appended] = await asyncio.gather(*jobs)
        if self.replication is not None:
            results = await self._replicated(keys, epochs, results, body)
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

    async def _replicated(self, keys, epochs, results: list[_Appended], body) -> list[_Appended]:
        """Tell the replica manager what was appended; with acks=all, wait for the ISR."""
        rep = self.replication
        for (topic, partition), epoch, result in zip(keys, epochs, results, strict=True):
            if result.error == ErrorCode.NONE and result.records:
                rep.appended(topic, partition, result.base_offset, result.end_offset, epoch)
        if body.acks != -1:
            return results
        waits = [
            rep.wait_for_acks(t, p, r.end_offset, body.timeout_ms)
            if r.error == ErrorCode.NONE
            else _failed(ErrorCode.NONE)
            for (t, p), r in zip(keys, results, strict=True)
        ]
        errors = await asyncio.gather(*waits)
        for result, error in zip(results, errors, strict=True):
            if error != ErrorCode.NONE:
                result.error = ErrorCode(error)
                result.message = f"acks=all: {ErrorCode(error).name}"
        return results

    def _append(
        self, topic: str, partition: int, records: bytes | None, leader_epoch: int = -1
    ) -> _Appended:
        try:
            log_ = self.store.log(topic, partition)
            if not records:
                raise CorruptRecord("the request holds no record batch")
            if leader_epoch >= 0:
                # The leader stamps its epoch in every batch (outside the CRC), as Kafka does.
                records = bytearray(records)
                stamp_leader_epoch(records, leader_epoch)
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
            end_offset=info.last_offset + 1,
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
            if self.replication is not None:
                reads = await self._cluster_read(body, wanted, max_bytes)
            else:
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
                    {(r.topic, r.partition): r.log_end_offset for r in reads}, versions, remaining
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

    async def _cluster_read(self, body, wanted, max_bytes: int) -> list[_Read]:
        """A cluster broker's read: only the leader serves fetches; a follower (replica_id >= 0)
        reads up to the log end and learns the high watermark, a consumer up to the high
        watermark."""
        rep = self.replication
        epochs = [
            getattr(part, "current_leader_epoch", -1)
            for topic in body.topics
            for part in topic.partitions
        ]
        checks = [
            rep.check_fetch(body.replica_id, t, p, offset, epoch)
            for (t, p, offset, _), epoch in zip(wanted, epochs, strict=True)
        ]
        allowed = [w for w, (error, _) in zip(wanted, checks, strict=True) if error == 0]
        reads = iter(await self.run(self._read, allowed, max_bytes) if allowed else [])
        out = []
        for (topic, partition, _, _), (error, upto) in zip(wanted, checks, strict=True):
            if error != 0:
                out.append(_Read(topic, partition, ErrorCode(error)))
                continue
            r = next(reads)
            if r.error == ErrorCode.NONE:
                r.log_end_offset = r.high_watermark
                r.high_watermark = rep.high_watermark(topic, partition)
                if upto is not None and r.records:
                    r.records = _below(r.records, upto)
            out.append(r)
        return out

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
