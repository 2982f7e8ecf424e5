"""Fetch, ListOffsets and OffsetForLeaderEpoch: reading a partition and finding offsets in it.

A Fetch that finds fewer bytes than its ``min_bytes`` waits (up to ``max_wait_ms``) for an
append to one of its partitions (``fetch_wait``).  On a broker of ``kcli cluster`` only the
leader serves consumers, up to the high watermark; followers read up to the log end.
"""

from __future__ import annotations

import asyncio

from kcli.serve.broker_context import BrokerContext
from kcli.serve.partitions import LATEST_TIMESTAMP, Read, below, count_records
from kcli.serve.protocol import (
    ErrorCode,
    FetchResponse,
    ListOffsetsResponse,
    OffsetForLeaderEpochResponse,
    Request,
)
from kcli.serve.stats import ConnectionStats


class FetchHandlers:
    """Fetch, ListOffsets and OffsetForLeaderEpoch."""

    def __init__(self, ctx: BrokerContext):
        self.ctx = ctx

    async def fetch(self, conn: ConnectionStats, req: Request):
        body = req.body
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0, body.max_wait_ms) / 1000
        by_id = await self.ctx.topic_names(req.version >= 13, [t.topic_id for t in body.topics])
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
            versions = {(t, p): self.ctx.watcher.version((t, p)) for t, p, _, _ in wanted}
            if self.ctx.replication is not None:
                reads = await self._cluster_read(body.replica_id, wanted, epochs, max_bytes)
            else:
                reads: list[Read] = await self.ctx.run(self.ctx.partitions.read, wanted, max_bytes)
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
                or self.ctx.is_stopping()
            ):
                break
            conn.waiting = "Fetch"
            try:
                await self.ctx.watcher.wait(
                    {(r.topic, r.partition): r.log_end_offset for r in reads}, versions, remaining
                )
            finally:
                conn.waiting = ""
        records = sum(count_records(r.records) for r in reads if r.records)
        conn.records_out += records
        self.ctx.stats.records_out += records
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
        rep = self.ctx.replication
        checks = [
            rep.check_fetch(replica_id, t, p, offset, epoch)
            for (t, p, offset, _), epoch in zip(wanted, epochs, strict=True)
        ]
        allowed = [w for w, (error, _) in zip(wanted, checks, strict=True) if error == 0]
        reads = iter(
            await self.ctx.run(self.ctx.partitions.read, allowed, max_bytes) if allowed else []
        )
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
        return await self.ctx.run(self.ctx.partitions.log_end_offsets, partitions)

    # -- ListOffsets, OffsetForLeaderEpoch, DeleteRecords, DescribeLogDirs ----------------

    async def list_offsets(self, conn: ConnectionStats, req: Request):
        wanted = [
            (topic.name, part.partition_index, part.timestamp)
            for topic in req.body.topics
            for part in topic.partitions
        ]
        found = await self.ctx.run(self.ctx.partitions.list_offsets, wanted)
        if self.ctx.replication is not None:
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
            check, _ = self.ctx.replication.check_fetch(-1, topic, partition, 0, -1)
            if check != 0:
                out.append((ErrorCode(check), -1, -1))
            elif error == ErrorCode.NONE and timestamp == LATEST_TIMESTAMP:
                out.append((error, ts, self.ctx.replication.high_watermark(topic, partition)))
            else:
                out.append((error, ts, offset))
        return out

    async def offset_for_leader_epoch(self, conn: ConnectionStats, req: Request):
        """The end offset of the asked leader epoch.  One broker that never changes leader
        has one epoch for the log's whole life, as Metadata's leader_epoch -1 says: every
        epoch ends at the log end offset."""
        wanted = [(t.topic, p.partition) for t in req.body.topics for p in t.partitions]
        ends = await self.ctx.run(self.ctx.partitions.log_end_offsets, wanted)
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
