"""``kcli.AdminClient`` over a Kafka cluster: confluent-kafka's AdminClient, taking kcli's
argument types.

Requests take kcli's ``NewTopic``, ``NewPartitions``, ``TopicPartition`` and
``ConsumerGroupTopicPartitions`` as well as confluent-kafka's; results (futures and what
they hold) are confluent-kafka's own, which have the same names and fields as kcli's.
"""

from __future__ import annotations

from typing import Any

from kcli.client.types import NewPartitions, NewTopic, TopicPartition
from kcli.remote.cluster_client import ClusterClient


class RemoteAdminClient:
    """confluent-kafka's AdminClient for the cluster ``cluster`` talks to."""

    def __init__(self, cluster: ClusterClient):
        self._cluster = cluster
        self._ck = cluster.ck
        self._admin = cluster.admin

    def _topic_partition(self, tp):
        if isinstance(tp, TopicPartition):
            return self._ck.TopicPartition(tp.topic, tp.partition, tp.offset)
        return tp

    def _group_request(self, request):
        parts = getattr(request, "topic_partitions", None)
        if parts is None or not hasattr(request, "group_id"):
            return request
        return self._ck.ConsumerGroupTopicPartitions(
            request.group_id, [self._topic_partition(tp) for tp in parts]
        )

    def create_topics(self, new_topics: list, **kwargs):
        admin = self._ck.admin
        topics = [
            admin.NewTopic(
                t.topic,
                num_partitions=t.num_partitions,
                replication_factor=t.replication_factor,
                config=dict(t.config),
            )
            if isinstance(t, NewTopic)
            else t
            for t in new_topics
        ]
        return self._admin.create_topics(topics, **kwargs)

    def create_partitions(self, new_partitions: list, **kwargs):
        admin = self._ck.admin
        parts = [
            admin.NewPartitions(p.topic, p.new_total_count) if isinstance(p, NewPartitions) else p
            for p in new_partitions
        ]
        return self._admin.create_partitions(parts, **kwargs)

    def list_consumer_group_offsets(self, requests: list, **kwargs):
        return self._admin.list_consumer_group_offsets(
            [self._group_request(r) for r in requests], **kwargs
        )

    def alter_consumer_group_offsets(self, requests: list, **kwargs):
        return self._admin.alter_consumer_group_offsets(
            [self._group_request(r) for r in requests], **kwargs
        )

    def __getattr__(self, name: str) -> Any:
        # Everything else (list_topics, delete_topics, describe_consumer_groups ...) takes
        # plain names and is confluent-kafka's as it is.
        return getattr(self._admin, name)
