"""Produce and InitProducerId: records appended through the store, acknowledged as asked.

Every partition of a request is appended in the server's thread pool; on a broker of
``kcli cluster`` the replica manager first says whether this broker leads the partition and,
with acks=all, when the in-sync replicas have the records.
"""

from __future__ import annotations

import asyncio
import logging

from kcli.serve.broker_context import BrokerContext
from kcli.serve.errors import error_code
from kcli.serve.flushes import Flushes
from kcli.serve.partitions import Appended
from kcli.serve.pipelining import let_next_request_in
from kcli.serve.protocol import ErrorCode, InitProducerIdResponse, ProduceResponse, Request
from kcli.serve.stats import ConnectionStats
from storage import StorageError

log = logging.getLogger("kcli.serve")


class CloseConnection(Exception):
    """A request after which the connection must be closed (Kafka's way to tell an acks=0
    producer that its records were not written)."""


class ProduceHandlers:
    """Produce and InitProducerId."""

    def __init__(self, ctx: BrokerContext):
        self.ctx = ctx
        self.flushes = Flushes(ctx.run, ctx.partitions.flush)

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
        if self.ctx.replication is not None:
            producer_id = await self.ctx.replication.next_producer_id()
        else:
            producer_id = await self.ctx.run(self.ctx.partitions.next_producer_id)
        return InitProducerIdResponse(
            version=req.version, error_code=0, producer_id=producer_id, producer_epoch=0
        )

    async def produce(self, conn: ConnectionStats, req: Request):
        body = req.body
        if body.transactional_id is not None:
            raise CloseConnection(
                f"transactional produce from {conn.label}: kcli serve does not support transactions"
            )
        by_id = await self.ctx.topic_names(req.version >= 13, [t.topic_id for t in body.topic_data])
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
                elif (
                    self.ctx.replication is not None
                    and (
                        error_epoch := self.ctx.replication.check_append(
                            name, part.index, body.acks
                        )
                    )[0]
                    != ErrorCode.NONE
                ):
                    jobs.append(_failed(Appended(ErrorCode(error_epoch[0]))))
                else:
                    if self.ctx.replication is not None:
                        epoch = error_epoch[1]
                    # A cluster leader fsyncs after letting the next request in (_replicated).
                    fsync = self.ctx.replication is None
                    jobs.append(
                        self.ctx.run(
                            self.ctx.partitions.append,
                            name,
                            part.index,
                            part.records,
                            epoch,
                            fsync,
                        )
                    )
                epochs.append(epoch)
        results: list[Appended] = await asyncio.gather(*jobs)
        if self.ctx.replication is not None:
            await self._replicated(keys, epochs, results, body)
        failed = None
        for (_, name, partition), result in zip(keys, results, strict=True):
            if result.error == ErrorCode.NONE:
                conn.records_in += result.records
                self.ctx.stats.records_in += result.records
                self.ctx.watcher.appended((name, partition))
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
        rep = self.ctx.replication
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


async def _failed(value):
    return value


async def _unknown_topic_id() -> Appended:
    return Appended(ErrorCode.UNKNOWN_TOPIC_ID, message="no topic has this topic id")
