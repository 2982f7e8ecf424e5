"""DeleteRecords and DescribeLogDirs: a partition's log start offset and the sizes on disk."""

from __future__ import annotations

import logging

from kcli.serve.broker_context import BrokerContext
from kcli.serve.protocol import DeleteRecordsResponse, DescribeLogDirsResponse, ErrorCode, Request
from kcli.serve.stats import ConnectionStats

log = logging.getLogger("kcli.serve")


class LogDirHandlers:
    """DeleteRecords and DescribeLogDirs."""

    def __init__(self, ctx: BrokerContext):
        self.ctx = ctx

    async def delete_records(self, conn: ConnectionStats, req: Request):
        topic_cls = DeleteRecordsResponse.DeleteRecordsTopicResult
        topics = []
        for topic in req.body.topics:
            parts = []
            for part in topic.partitions:
                error, low = await self.ctx.run(
                    self.ctx.partitions.delete_records,
                    topic.name,
                    part.partition_index,
                    part.offset,
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
        sizes = await self.ctx.run(self.ctx.partitions.sizes, wanted)
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
                    log_dir=self.ctx.log_dir,
                    topics=[topic_cls(name=n, partitions=ps) for n, ps in topics.items()],
                    total_bytes=-1,
                    usable_bytes=-1,
                )
            ],
        )
