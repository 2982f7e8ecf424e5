"""Followers copying their leaders' logs (Kafka's ``ReplicaFetcherThread``).

One fetcher per leader broker, an asyncio task with one connection to it.  A partition that
just got a new leader (or epoch) first *truncates*: it sends OffsetForLeaderEpoch with the
latest epoch in its own leader epoch cache; the leader answers with the largest epoch it knows
at most that one and where it ended; the follower cuts its log there (KIP-101), and repeats
when the leader's epoch is older than its own (KIP-279), until both agree.  Then it fetches:
a Fetch request with the broker's id as ``replica_id``, from its log end offset, long-polling
``replica.fetch.wait.max.ms``.  The batches that come back are appended through the store's
normal append path, which validates every record as for any append, and must land at exactly
the offsets the leader gave them.  Like Kafka's followers, they do not fsync each append (see
``ReplicaManager.write_hw_checkpoint``).
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from kafka.protocol.consumer import (
    FetchRequest,
    FetchResponse,
    OffsetForLeaderEpochRequest,
    OffsetForLeaderEpochResponse,
)

from kcli.cluster.partition import Partition
from kcli.cluster.wire import BrokerConnection, BrokerUnavailable
from kcli.serve.protocol import ErrorCode
from storage import StorageError
from storage.leader_epoch import UNDEFINED_OFFSET, batch_epochs
from storage.records import split_batches

log = logging.getLogger("kcli.cluster")

FETCH_VERSION = 11
OFFSET_FOR_LEADER_EPOCH_VERSION = 3
RETRY_S = 0.2


class ReplicaFetcher:
    """Fetches the partitions this broker follows from one leader."""

    def __init__(self, manager, leader_id: int):
        self.manager = manager
        self.leader_id = leader_id
        self.partitions: dict[tuple[str, int], Partition] = {}
        self.truncating: set[tuple[str, int]] = set()
        self._changed = asyncio.Event()
        self._conn: BrokerConnection | None = None
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"fetcher-{leader_id}"
        )

    def add(self, part: Partition) -> None:
        self.partitions[part.tp] = part
        self.truncating.add(part.tp)
        self._changed.set()

    def remove(self, tp) -> None:
        self.partitions.pop(tp, None)
        self.truncating.discard(tp)

    async def stop(self) -> None:
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        if self._conn is not None:
            self._conn.close()

    def _connection(self) -> BrokerConnection | None:
        address = self.manager.broker_address(self.leader_id)
        if address is None:
            return None
        if self._conn is None or (self._conn.host, self._conn.port) != address:
            if self._conn is not None:
                self._conn.close()
            wait_s = self.manager.config.replica_fetch_wait_max_ms / 1000
            self._conn = BrokerConnection(
                *address, client_id=f"broker-{self.manager.node_id}-fetcher", timeout_s=wait_s + 10
            )
        return self._conn

    async def _run(self) -> None:
        while True:
            if not self.partitions:
                self._changed.clear()
                await self._changed.wait()
                continue
            conn = self._connection()
            if conn is None:
                await asyncio.sleep(RETRY_S)
                continue
            try:
                if self.truncating:
                    await self._truncate(conn)
                await self._fetch(conn)
            except BrokerUnavailable as exc:
                log.debug("fetching from broker %d: %s", self.leader_id, exc)
                await asyncio.sleep(RETRY_S)
            except StorageError as exc:
                log.error("replicating from broker %d: %s", self.leader_id, exc)
                await asyncio.sleep(1.0)

    # -- truncation (KIP-101, KIP-279) --------------------------------------------------------

    async def _truncate(self, conn: BrokerConnection) -> None:
        for _round in range(10):
            asking = {tp: self.partitions[tp] for tp in self.truncating if tp in self.partitions}
            if not asking:
                return
            req_cls = OffsetForLeaderEpochRequest
            by_topic: dict[str, list] = {}
            for (topic, partition), part in asking.items():
                by_topic.setdefault(topic, []).append(
                    req_cls.OffsetForLeaderTopic.OffsetForLeaderPartition(
                        partition=partition,
                        current_leader_epoch=part.leader_epoch,
                        leader_epoch=part.epochs.latest_epoch,
                    )
                )
            request = req_cls(
                version=OFFSET_FOR_LEADER_EPOCH_VERSION,
                replica_id=self.manager.node_id,
                topics=[
                    req_cls.OffsetForLeaderTopic(topic=t, partitions=ps)
                    for t, ps in by_topic.items()
                ],
            )
            response = await conn.request(
                request, OffsetForLeaderEpochResponse, OFFSET_FOR_LEADER_EPOCH_VERSION
            )
            for topic in response.topics:
                for r in topic.partitions:
                    tp = (topic.topic, r.partition)
                    part = asking.get(tp)
                    if part is None:
                        continue
                    if r.error_code != 0:
                        # The leader does not know it leads yet (or no longer does): retry
                        # once the metadata has moved on.
                        continue
                    done = await self._truncate_one(part, r.leader_epoch, r.end_offset)
                    if done:
                        self.truncating.discard(tp)
            if self.truncating:
                await asyncio.sleep(RETRY_S)

    async def _truncate_one(self, part: Partition, leader_epoch: int, end_offset: int) -> bool:
        """Cut ``part`` where it diverges from the leader; True when it agrees with it."""
        ours = part.epochs.latest_epoch
        if ours < 0:
            return True  # an empty log (or one without epochs) has nothing to diverge
        if end_offset == UNDEFINED_OFFSET:
            target = part.high_watermark
        elif leader_epoch == ours:
            target = min(end_offset, part.log_end_offset)
        else:
            # The leader never had our latest epoch: everything we wrote after its epoch
            # ended is ours alone.
            _, our_end = part.epochs.end_offset_for(leader_epoch, part.log_end_offset)
            target = min(end_offset, our_end if our_end >= 0 else end_offset)
        if target < part.log_end_offset:
            new_end = await self.manager.run(part.log.truncate_to, target)
            log.warning(
                "%s-%d: truncated the divergent tail %d..%d (leader %d epoch %d ends at %d)",
                part.topic,
                part.partition,
                new_end,
                part.log_end_offset - 1,
                self.leader_id,
                leader_epoch,
                end_offset,
            )
            part.log_end_offset = new_end
            part.high_watermark = min(part.high_watermark, new_end)
            part.epochs.truncate_from_end(new_end)
        # Same epoch, or no epoch to compare: done.  An older epoch: ask again with ours now.
        return leader_epoch == ours or end_offset == UNDEFINED_OFFSET

    # -- fetching ---------------------------------------------------------------------------------

    async def _fetch(self, conn: BrokerConnection) -> None:
        fetching = {tp: p for tp, p in self.partitions.items() if tp not in self.truncating}
        if not fetching:
            await asyncio.sleep(RETRY_S)
            return
        config = self.manager.config
        part_cls = FetchRequest.FetchTopic.FetchPartition
        by_topic: dict[str, list] = {}
        for (topic, partition), part in fetching.items():
            by_topic.setdefault(topic, []).append(
                part_cls(
                    partition=partition,
                    current_leader_epoch=part.leader_epoch,
                    fetch_offset=part.log_end_offset,
                    log_start_offset=-1,
                    partition_max_bytes=config.replica_fetch_max_bytes,
                )
            )
        request = FetchRequest(
            version=FETCH_VERSION,
            replica_id=self.manager.node_id,
            max_wait_ms=config.replica_fetch_wait_max_ms,
            min_bytes=1,
            max_bytes=config.replica_fetch_max_bytes * 10,
            isolation_level=0,
            session_id=0,
            session_epoch=-1,
            topics=[FetchRequest.FetchTopic(topic=t, partitions=ps) for t, ps in by_topic.items()],
            forgotten_topics_data=[],
            rack_id="",
        )
        response = await conn.request(request, FetchResponse, FETCH_VERSION)
        backoff = False
        for topic in response.responses:
            for r in topic.partitions:
                tp = (topic.topic, r.partition_index)
                part = fetching.get(tp)
                if part is None or self.partitions.get(tp) is not part:
                    continue  # moved to another leader meanwhile
                if r.error_code == ErrorCode.NONE:
                    if r.records:
                        await self._append(part, r.records)
                    self.manager.follower_high_watermark(part, r.high_watermark)
                elif r.error_code == ErrorCode.OFFSET_OUT_OF_RANGE:
                    self.truncating.add(tp)
                else:
                    backoff = True  # not the leader (yet / any more): the metadata will say
        if backoff:
            await asyncio.sleep(RETRY_S)

    async def _append(self, part: Partition, records: bytes) -> None:
        data = bytes(records)
        batches = list(split_batches(data))
        if not batches:
            return
        first = list(batch_epochs(batches[0]))[0][0]
        if first < part.log_end_offset:
            self.truncating.add(part.tp)
            return
        # At the leader's offsets (Kafka's appendAsFollower): past this replica's log end when
        # the leader's cleaner emptied the section between.  No fsync per append, as in
        # Kafka: a follower's copy is made durable by replication (the leader fsyncs what it
        # acknowledges) and flushed with each high watermark checkpoint, so the checkpoint
        # never names records the disk may not hold.
        info = await self.manager.run(partial(part.log.append_as_follower, batches))
        for base, epoch in batch_epochs(data):
            part.epochs.assign(epoch, base)
        part.log_end_offset = info.last_offset + 1


class FetcherManager:
    """The fetchers of one broker, one per leader (Kafka's ReplicaFetcherManager)."""

    def __init__(self, manager):
        self.manager = manager
        self.fetchers: dict[int, ReplicaFetcher] = {}

    def follow(self, part: Partition, leader_id: int) -> None:
        self.remove(part.tp)
        fetcher = self.fetchers.get(leader_id)
        if fetcher is None:
            fetcher = self.fetchers[leader_id] = ReplicaFetcher(self.manager, leader_id)
        fetcher.add(part)

    def remove(self, tp) -> None:
        for fetcher in self.fetchers.values():
            fetcher.remove(tp)

    async def stop(self) -> None:
        for fetcher in self.fetchers.values():
            await fetcher.stop()
