"""The controller's topic decisions: creating topics and partitions (replicas placed with
Kafka's rack-unaware assignment), config changes and deletions, as ``TopicRecord``,
``PartitionRecord``, ``ConfigRecord`` and ``RemoveTopicRecord`` in the metadata log."""

from __future__ import annotations

import base64
import logging
import uuid

from kcli.cluster.config import ClusterConfig
from kcli.cluster.constants import OFFSETS_SEGMENT_BYTES, OFFSETS_TOPIC
from kcli.cluster.placement import assign_replicas
from kcli.cluster.rpc import error_answer
from kcli.serve.protocol import ErrorCode

log = logging.getLogger("kcli.cluster.controller")


def partition_record(topic_id: str, partition: int, replicas: list[int]) -> dict:
    """A new partition: every replica in the ISR, the first one leading, epochs 0."""
    return {
        "type": "PartitionRecord",
        "partitionId": partition,
        "topicId": topic_id,
        "replicas": replicas,
        "isr": replicas,
        "leader": replicas[0],
        "leaderEpoch": 0,
        "partitionEpoch": 0,
    }


def config_record(topic: str, name: str, value) -> dict:
    """One topic config (resource type 2: a topic)."""
    return {
        "type": "ConfigRecord",
        "resourceType": 2,
        "resourceName": topic,
        "name": name,
        "value": str(value),
    }


def _topic_error(name: str, code: ErrorCode, message: str) -> dict:
    return {"name": name, **error_answer(code, message)}


def _factor_error(name: str, factor: int, live: int) -> dict:
    return _topic_error(
        name,
        ErrorCode.INVALID_REPLICATION_FACTOR,
        f"Replication factor: {factor} larger than available brokers: {live}.",
    )


class TopicControl:
    """CreateTopics, CreatePartitions, AlterConfigs and DeleteTopics on the controller."""

    def __init__(self, controller):
        self.controller = controller  # image, config, expected_brokers, live(), commit()
        self.config = controller.config

    @property
    def image(self):
        return self.controller.image

    async def create_topics(self, req: dict) -> dict:
        from storage import StorageError, validate_topic_name
        from storage.topic_config import config_from_user

        results = []
        for topic in req["topics"]:
            name = topic["name"]
            try:
                validate_topic_name(name)
                config_from_user(topic.get("configs") or {})
            except StorageError as exc:
                from kcli.serve.errors import error_code

                results.append(_topic_error(name, error_code(exc), str(exc)))
                continue
            if name in self.image.topics:
                results.append(
                    _topic_error(
                        name, ErrorCode.TOPIC_ALREADY_EXISTS, f"Topic '{name}' already exists."
                    )
                )
                continue
            live = self.controller.live()
            partitions = topic.get("numPartitions", -1)
            if partitions == -1:
                partitions = self.config.num_partitions
            factor = topic.get("replicationFactor", -1)
            if factor == -1:
                factor = self.config.replication_factor(self.controller.expected_brokers)
            if partitions < 1:
                results.append(
                    _topic_error(
                        name,
                        ErrorCode.INVALID_PARTITIONS,
                        "Number of partitions must be at least 1.",
                    )
                )
                continue
            if not 1 <= factor <= len(live):
                results.append(_factor_error(name, factor, len(live)))
                continue
            if req.get("validateOnly"):
                results.append({"name": name, "error_code": 0, "error_message": None})
                continue
            topic_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            records = [{"type": "TopicRecord", "name": name, "topicId": topic_id}]
            records += [config_record(name, k, v) for k, v in (topic.get("configs") or {}).items()]
            placed = assign_replicas(partitions, sorted(live), factor)
            records += [partition_record(topic_id, p, r) for p, r in enumerate(placed)]
            await self.controller.commit(records)
            log.info(
                "created topic %s: %d partitions, replication factor %d", name, partitions, factor
            )
            results.append({"name": name, "error_code": 0, "error_message": None})
        return {"error_code": 0, "topics": results}

    async def create_partitions(self, req: dict) -> dict:
        results = []
        for topic in req["topics"]:
            name, count = topic["name"], topic["count"]
            t = self.image.topics.get(name)
            if t is None:
                results.append(
                    _topic_error(name, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"no topic '{name}'")
                )
                continue
            current = len(t.partitions)
            if count <= current:
                results.append(
                    _topic_error(
                        name,
                        ErrorCode.INVALID_PARTITIONS,
                        f"Topic currently has {current} partitions, which is higher than or "
                        f"equal to the requested {count}.",
                    )
                )
                continue
            factor = len(t.partitions[0].replicas)
            live = self.controller.live()
            if factor > len(live):
                results.append(_factor_error(name, factor, len(live)))
                continue
            if not req.get("validateOnly"):
                placed = assign_replicas(
                    count - current, sorted(live), factor, first_partition=current
                )
                await self.controller.commit(
                    [partition_record(t.topic_id, current + i, r) for i, r in enumerate(placed)]
                )
            results.append({"name": name, "error_code": 0, "error_message": None})
        return {"error_code": 0, "topics": results}

    async def alter_configs(self, req: dict) -> dict:
        """Topic config changes (checked by the broker that took the request), as
        ConfigRecords every broker applies to its copy of the topic."""
        name = req["name"]
        if name not in self.image.topics:
            return error_answer(
                ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"topic '{name}' does not exist"
            )
        await self.controller.commit(
            [config_record(name, key, value) for key, value in req["configs"].items()]
        )
        return {"error_code": 0}

    async def delete_topics(self, req: dict) -> dict:
        results = []
        for name in req["names"]:
            t = self.image.topics.get(name)
            if t is None:
                results.append(
                    _topic_error(
                        name,
                        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                        f"This server does not host this topic-partition: {name}",
                    )
                )
                continue
            await self.controller.commit([{"type": "RemoveTopicRecord", "topicId": t.topic_id}])
            results.append({"name": name, "error_code": 0, "error_message": None})
        return {"error_code": 0, "topics": results}


def ensure_offsets_topic_request(config: ClusterConfig, brokers: int) -> dict:
    """The CreateTopics entry of the internal offsets topic."""
    return {
        "name": OFFSETS_TOPIC,
        "numPartitions": config.offsets_topic_num_partitions,
        "replicationFactor": config.offsets_replication_factor(brokers),
        # As Kafka's: compacted (the latest commit of each group, topic and partition and the
        # latest GroupMetadata of each group stay), in segments of offsets.topic.segment.bytes.
        "configs": {"cleanup.policy": "compact", "segment.bytes": str(OFFSETS_SEGMENT_BYTES)},
    }
