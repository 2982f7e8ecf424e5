"""The data side of the broker: metadata, produce, fetch and the log's offsets.

Every handler takes the connection it serves and a decoded request and returns a
kafka.protocol response (or None when the client expects no answer).  Work that touches the
disk runs in the server's thread pool, so a long fsync or read never stalls other clients.

``Broker`` assembles parts with one job each, sharing one ``BrokerContext``:

- ``MetadataHandlers`` (``metadata_handlers``): ApiVersions, FindCoordinator, DescribeCluster,
  Metadata, DescribeTopicPartitions;
- ``ProduceHandlers`` (``produce``): Produce, InitProducerId;
- ``FetchHandlers`` (``fetch``): Fetch, ListOffsets, OffsetForLeaderEpoch;
- ``LogDirHandlers`` (``log_dirs``): DeleteRecords, DescribeLogDirs.

Topic and config administration is in ``topic_admin``, the group coordinator in
``coordinator``, and the mapping of storage errors to Kafka error codes in ``errors``.
"""

from __future__ import annotations

from kcli.serve.broker_context import BrokerContext
from kcli.serve.fetch import FetchHandlers
from kcli.serve.log_dirs import LogDirHandlers
from kcli.serve.metadata_handlers import MetadataHandlers
from kcli.serve.produce import ProduceHandlers


class Broker:
    """Handlers for the data and cluster APIs (the group coordinator's and topic admin's are
    elsewhere).  Records and offsets come from ``ctx.partitions``, nothing else."""

    def __init__(self, ctx: BrokerContext):
        self.ctx = ctx
        self.apis = ctx.apis
        meta = MetadataHandlers(ctx)
        produce = ProduceHandlers(ctx)
        fetch = FetchHandlers(ctx)
        log_dirs = LogDirHandlers(ctx)
        # The handlers, by API.
        self.api_versions = meta.api_versions
        self.find_coordinator = meta.find_coordinator
        self.describe_cluster = meta.describe_cluster
        self.metadata = meta.metadata
        self.describe_topic_partitions = meta.describe_topic_partitions
        self.produce = produce.produce
        self.init_producer_id = produce.init_producer_id
        self.fetch = fetch.fetch
        self.list_offsets = fetch.list_offsets
        self.offset_for_leader_epoch = fetch.offset_for_leader_epoch
        self.log_end_offsets = fetch.log_end_offsets
        self.delete_records = log_dirs.delete_records
        self.describe_log_dirs = log_dirs.describe_log_dirs
