"""A Kafka cluster as a backend, through confluent-kafka (librdkafka).

What a command sees is what it sees locally: the same value types, the same errors with the
same words where the cluster allows it, and producer and consumer objects with kcli's client
API (``RemoteProducer``, ``RemoteConsumer``) wrapping confluent-kafka's.  Choices made to
keep results the same as on the local store:

* keyed records: ``partitioner=murmur2_random``, the partition Kafka's Java producer and the
  local store choose (librdkafka's default, ``consistent_random``, hashes with CRC32);
* records without a key: kcli's per-record round-robin (storage.RoundRobin), chosen here and
  passed as an explicit partition;
* no topic is ever created by a metadata request (``allow.auto.create.topics=false``, and
  topics are looked up in the full topic list);
* a consumer without a group never commits (its librdkafka group id is a throwaway one).

The pieces live in their own modules: kcli.remote.cluster_client (the connection every
client shares: new clients, metadata, waiting, errors), kcli.remote.librdkafka (error
reports, log lines), kcli.remote.producer, .consumer and .groups; this module composes them
into the ``Backend`` the commands use and re-exports their names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kcli.client.backend import Backend, BackendInfo, TopicInfo
from kcli.connection import Connection
from kcli.remote.cluster_client import DEFAULT_TIMEOUT_S, INSTALL_HINT, ClusterClient, confluent
from kcli.remote.consumer import CONSUMER_DEFAULTS, RemoteConsumer
from kcli.remote.groups import RemoteGroups
from kcli.remote.librdkafka import authentication_error, unreachable_error
from kcli.remote.producer import PRODUCER_DEFAULTS, RemoteProducer
from storage import (
    InvalidPartitions,
    PartitionDescription,
    TopicAlreadyExists,
    TopicDescription,
    validate_topic_name,
)
from storage.errors import partitions_can_only_grow_message

__all__ = [
    "CONSUMER_DEFAULTS",
    "DEFAULT_TIMEOUT_S",
    "INSTALL_HINT",
    "PRODUCER_DEFAULTS",
    "ClusterClient",
    "RemoteBackend",
    "RemoteConsumer",
    "RemoteGroups",
    "RemoteProducer",
    "authentication_error",
    "confluent",
    "unreachable_error",
]

# How long a describe waits for each partition's offsets: a partition whose leader does not
# answer in that time shows "-" (its broker may have just died; the controller fences it after
# broker.session.timeout.ms, and a describe then shows the new leader).
DESCRIBE_OFFSETS_TIMEOUT_S = 3.0


class RemoteBackend(Backend):
    """Topics, records and consumer groups of a Kafka cluster (confluent-kafka), over one
    ``ClusterClient``."""

    kind = "remote"

    def __init__(
        self, connection: Connection, *, timeout_s: float = DEFAULT_TIMEOUT_S, debug: bool = False
    ):
        self.cluster = ClusterClient(connection, timeout_s=timeout_s, debug=debug)
        self.connection = connection
        self._groups: RemoteGroups | None = None

    # -- topics -------------------------------------------------------------------------

    def topics(self) -> list[TopicInfo]:
        return self.cluster.topics()

    def topic(self, name: str) -> TopicInfo:
        return self.cluster.topic(name)

    def topic_exists(self, name: str) -> bool:
        validate_topic_name(name)
        t = self.cluster.metadata().topics.get(name)
        return t is not None and t.error is None

    def _create_topic(
        self, name: str, partitions: int, config: dict, if_not_exists: bool, replication_factor: int
    ) -> TopicInfo:
        validate_topic_name(name)
        cluster = self.cluster
        new = cluster.ck.admin.NewTopic(
            name,
            num_partitions=partitions,
            replication_factor=replication_factor,  # -1: default.replication.factor
            config={k: str(v) for k, v in config.items()},
        )
        futures = cluster.admin.create_topics([new], request_timeout=cluster.timeout_s)
        try:
            cluster.wait(futures, f"creating topic '{name}'")
        except TopicAlreadyExists:
            if if_not_exists:
                return self.topic(name)
            raise
        return TopicInfo(name, partitions)

    def _alter_topic(self, name: str, partitions: int | None, config: dict | None) -> TopicInfo:
        cluster = self.cluster
        before = self.topic(name)
        if partitions is not None and partitions < before.partitions:
            raise InvalidPartitions(partitions_can_only_grow_message(name, before.partitions))
        changes = {k: str(v) for k, v in (config or {}).items()}
        if changes:
            # Two requests cannot be one transaction: check the configs before growing, so
            # that a bad value leaves the topic as it was.
            self._set_configs(name, changes, validate_only=True)
        if partitions is not None and partitions > before.partitions:
            new = cluster.ck.admin.NewPartitions(name, partitions)
            cluster.wait(
                cluster.admin.create_partitions([new], request_timeout=cluster.timeout_s),
                f"adding partitions to topic '{name}'",
                topic=name,
            )
        if changes:
            self._set_configs(name, changes, validate_only=False)
        return TopicInfo(name, partitions if partitions is not None else before.partitions)

    def _set_configs(self, name: str, changes: dict[str, str], *, validate_only: bool) -> None:
        cluster = self.cluster
        admin = cluster.ck.admin
        resource = admin.ConfigResource(
            admin.ResourceType.TOPIC,
            name,
            incremental_configs=[
                admin.ConfigEntry(k, v, incremental_operation=admin.AlterConfigOpType.SET)
                for k, v in changes.items()
            ],
        )
        futures = cluster.admin.incremental_alter_configs(
            [resource], request_timeout=cluster.timeout_s, validate_only=validate_only
        )
        cluster.wait(futures, f"changing the configs of topic '{name}'", topic=name)

    def delete_topic(self, name: str) -> None:
        validate_topic_name(name)
        cluster = self.cluster
        futures = cluster.admin.delete_topics([name], request_timeout=cluster.timeout_s)
        cluster.wait(futures, f"deleting topic '{name}'", topic=name)

    def describe_topic(self, name: str) -> TopicDescription:
        cluster = self.cluster
        info = self.topic(name)
        numbers = range(info.partitions)
        placed = cluster.metadata().topics[name].partitions
        starts, ends = cluster.partition_offsets(
            name, numbers, min(cluster.timeout_s, DESCRIBE_OFFSETS_TIMEOUT_S)
        )
        config, overrides = cluster.topic_configs(name)
        return TopicDescription(
            topic=name,
            topic_id=self._topic_id(name),
            partitions=tuple(
                PartitionDescription(
                    p,
                    starts[p],
                    ends[p],
                    None,
                    None,
                    leader=placed[p].leader,
                    replicas=tuple(placed[p].replicas),
                    isr=tuple(placed[p].isrs),
                )
                for p in numbers
            ),
            config=config,
            overrides=overrides,
        )

    def max_message_bytes(self, name: str) -> int | None:
        return self.cluster.max_message_bytes(name)

    def _topic_id(self, name: str) -> str:
        cluster = self.cluster
        try:
            futures = cluster.admin.describe_topics(
                cluster.ck.TopicCollection([name]), request_timeout=cluster.timeout_s
            )
            desc = cluster.wait(futures, f"describing topic '{name}'", topic=name)[name]
        except Exception:  # older clusters have no topic ids; the id is not essential
            return ""
        topic_id = str(desc.topic_id or "")
        return "" if set(topic_id) <= {"A", "="} else topic_id  # all zero bits: no id

    # -- records ------------------------------------------------------------------------

    def producer(self, conf: Mapping[str, Any] | None = None):
        return RemoteProducer(self.cluster, conf)

    def consumer(self, conf: Mapping[str, Any] | None = None):
        return RemoteConsumer(self.cluster, conf)

    # -- groups and the rest ------------------------------------------------------------

    def groups(self) -> RemoteGroups:
        if self._groups is None:
            self._groups = RemoteGroups(self.cluster)
        return self._groups

    def info(self) -> BackendInfo:
        md = self.cluster.metadata()
        topics = [t for n, t in md.topics.items() if t.error is None and not n.startswith("__")]
        c = self.connection
        details: dict[str, Any] = {
            "bootstrap_servers": c.bootstrap_servers,
            "from": c.origin,
            "security_protocol": c.security_protocol,
        }
        if c.sasl_mechanism:
            details["sasl_mechanism"] = c.sasl_mechanism
        if c.profile:
            details["profile"] = c.profile
        details["brokers"] = len(md.brokers)
        details["controller_id"] = md.controller_id
        return BackendInfo(
            kind=self.kind,
            location=c.bootstrap_servers,
            cluster_id=md.cluster_id,
            topics=len(topics),
            partitions=sum(len(t.partitions) for t in topics),
            size_bytes=None,
            details=details,
        )

    def close(self) -> None:
        self.cluster.close()
