"""Topic administration: CreateTopics, DeleteTopics, CreatePartitions, AlterConfigs,
IncrementalAlterConfigs and DescribeConfigs.

Creating, growing and deleting topics and altering their configs take ``admin_lock`` (the
store's lock file keeps processes apart, not threads of this one), which the broker's
Metadata handler also takes when it creates a topic.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from kcli.serve.config import NODE_ID, BrokerConfig
from kcli.serve.errors import error_code
from kcli.serve.fetch_wait import AppendWatcher
from kcli.serve.partitions import topic_uuid
from kcli.serve.protocol import (
    AlterConfigsResponse,
    CreatePartitionsResponse,
    CreateTopicsResponse,
    DeleteTopicsResponse,
    DescribeConfigsResponse,
    ErrorCode,
    IncrementalAlterConfigsResponse,
    Request,
)
from kcli.serve.stats import ConnectionStats
from storage import StorageError, Store

log = logging.getLogger("kcli.serve")

# DescribeConfigs resource types and config sources (Kafka's ConfigResource / ConfigSource).
RESOURCE_TOPIC = 2
RESOURCE_BROKER = 4
SOURCE_DYNAMIC_TOPIC_CONFIG = 1
SOURCE_STATIC_BROKER_CONFIG = 4
SOURCE_DEFAULT_CONFIG = 5
# IncrementalAlterConfigs operations.
CONFIG_OPERATIONS = {0: "SET", 1: "DELETE", 2: "APPEND", 3: "SUBTRACT"}
OP_SET, OP_DELETE = 0, 1
# DescribeConfigs v3 config types.
TYPE_BOOLEAN, TYPE_STRING, TYPE_INT, TYPE_LONG, TYPE_DOUBLE, TYPE_LIST = 1, 2, 3, 5, 6, 7
_TOPIC_CONFIG_TYPES = {
    "retention.ms": TYPE_LONG,
    "retention.bytes": TYPE_LONG,
    "segment.bytes": TYPE_INT,
    "segment.ms": TYPE_LONG,
    "max.message.bytes": TYPE_INT,
    "index.interval.bytes": TYPE_INT,
    "cleanup.policy": TYPE_LIST,
    "message.timestamp.type": TYPE_STRING,
    "min.cleanable.dirty.ratio": TYPE_DOUBLE,
    "delete.retention.ms": TYPE_LONG,
    "min.compaction.lag.ms": TYPE_LONG,
    "max.compaction.lag.ms": TYPE_LONG,
    "min.insync.replicas": TYPE_INT,
}


class TopicAdmin:
    """Handlers for the topic and config admin APIs."""

    def __init__(
        self,
        store: Store,
        config: BrokerConfig,
        *,
        run: Callable,
        watcher: AppendWatcher,
        admin_lock: asyncio.Lock,
    ):
        self.store = store
        self.config = config
        self.run = run
        self.watcher = watcher
        self.admin_lock = admin_lock

    # -- CreateTopics / DeleteTopics ------------------------------------------------------

    async def create_topics(self, conn: ConnectionStats, req: Request):
        body = req.body
        results = []
        async with self.admin_lock:
            for topic in body.topics:
                error, message = await self.run(self._create_topic, topic, body.validate_only)
                if error == ErrorCode.NONE and not body.validate_only:
                    log.info("%s created topic '%s'", conn.label, topic.name)
                results.append(await self.run(self._created, topic.name, error, message))
        return CreateTopicsResponse(version=req.version, throttle_time_ms=0, topics=results)

    def _created(self, name: str, error: ErrorCode, message: str | None):
        """A CreateTopics result; from v5 on, with the topic's id, partitions and configs."""
        result_cls = CreateTopicsResponse.CreatableTopicResult
        if error != ErrorCode.NONE:
            return result_cls(
                name=name,
                error_code=error,
                error_message=message,
                num_partitions=-1,
                replication_factor=-1,
                configs=[],
            )
        try:
            meta = self.store.topic(name)
        except StorageError:  # validate_only: nothing was created
            meta = None
        configs = []
        if meta is not None:
            for key, value in meta.config.to_kafka().items():
                configs.append(
                    result_cls.CreatableTopicConfigs(
                        name=key,
                        value=str(value),
                        read_only=False,
                        config_source=SOURCE_DYNAMIC_TOPIC_CONFIG
                        if key in meta.overrides
                        else SOURCE_DEFAULT_CONFIG,
                        is_sensitive=False,
                    )
                )
        return result_cls(
            name=name,
            topic_id=topic_uuid(meta.topic_id) if meta is not None else None,
            error_code=0,
            error_message=None,
            num_partitions=meta.partitions if meta is not None else -1,
            replication_factor=1,
            configs=configs,
        )

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
            self.store.create_topic(topic.name, partitions, configs, validate_only=validate_only)
        except StorageError as exc:
            return error_code(exc), str(exc)
        return ErrorCode.NONE, None

    async def delete_topics(self, conn: ConnectionStats, req: Request):
        results = []
        if req.version >= 6:
            by_id = await self.run(self._topic_names_by_id)
            wanted = [
                (t.name if t.name is not None else by_id.get(t.topic_id), t.topic_id)
                for t in req.body.topics
            ]
        else:
            wanted = [(name, None) for name in req.body.topic_names]
        async with self.admin_lock:
            for name, topic_id in wanted:
                message = None
                if name is None:
                    error, message = ErrorCode.UNKNOWN_TOPIC_ID, f"no topic has id {topic_id}"
                else:
                    try:
                        topic_id = topic_id or await self.run(self._topic_id, name)
                        await self.run(self.store.delete_topic, name)
                        error = ErrorCode.NONE
                        log.info("%s deleted topic '%s'", conn.label, name)
                    except StorageError as exc:
                        error, message = error_code(exc), str(exc)
                results.append(
                    DeleteTopicsResponse.DeletableTopicResult(
                        name=name, topic_id=topic_id, error_code=error, error_message=message
                    )
                )
        self.watcher.wake_all()  # fetches waiting on a deleted topic report it now
        return DeleteTopicsResponse(version=req.version, throttle_time_ms=0, responses=results)

    def _topic_names_by_id(self) -> dict:
        return {topic_uuid(m.topic_id): m.name for m in self.store.topics()}

    def _topic_id(self, name: str):
        return topic_uuid(self.store.topic(name).topic_id)

    # -- CreatePartitions / AlterConfigs / IncrementalAlterConfigs ------------------------

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
            self.store.alter_topic(topic.name, partitions=topic.count, validate_only=validate_only)
        except StorageError as exc:
            return error_code(exc), str(exc)
        return ErrorCode.NONE, None

    async def alter_configs(self, conn: ConnectionStats, req: Request):
        """AlterConfigs (API 33): the resource's dynamic configs become exactly those given
        (Kafka's replace semantics; configs not named go back to their defaults)."""
        return await self._alter(conn, req, AlterConfigsResponse, incremental=False)

    async def incremental_alter_configs(self, conn: ConnectionStats, req: Request):
        return await self._alter(conn, req, IncrementalAlterConfigsResponse, incremental=True)

    async def _alter(self, conn: ConnectionStats, req: Request, response_cls, *, incremental):
        body = req.body
        responses = []
        async with self.admin_lock:
            for resource in body.resources:
                error, message = await self.run(
                    self._alter_configs, resource, body.validate_only, incremental
                )
                if error == ErrorCode.NONE and not body.validate_only:
                    log.info(
                        "%s set %s on topic '%s'",
                        conn.label,
                        ", ".join(f"{c.name}={c.value}" for c in resource.configs),
                        resource.resource_name,
                    )
                responses.append(
                    response_cls.AlterConfigsResourceResponse(
                        error_code=error,
                        error_message=message,
                        resource_type=resource.resource_type,
                        resource_name=resource.resource_name,
                    )
                )
        return response_cls(version=req.version, throttle_time_ms=0, responses=responses)

    def _alter_configs(
        self, resource, validate_only: bool, incremental: bool
    ) -> tuple[ErrorCode, str | None]:
        if resource.resource_type != RESOURCE_TOPIC:
            return (
                ErrorCode.INVALID_REQUEST,
                f"kcli serve alters topic configs (resource type {RESOURCE_TOPIC}) only; broker "
                f"configs are set with kcli serve --config KEY=VALUE at start",
            )
        changes: dict[str, str] = {}
        deleted: list[str] = []
        for c in resource.configs:
            operation = c.config_operation if incremental else OP_SET
            if operation == OP_DELETE:
                deleted.append(c.name)
                continue
            if operation != OP_SET:
                # APPEND and SUBTRACT are for list configs; cleanup.policy is the only one
                # and holds one value in kcli.
                op = CONFIG_OPERATIONS.get(operation, str(operation))
                return (
                    ErrorCode.INVALID_REQUEST,
                    f"kcli serve can SET and DELETE topic configs, not {op} them ('{c.name}')",
                )
            if c.value is None:
                return ErrorCode.INVALID_CONFIG, f"setting '{c.name}' needs a value"
            changes[c.name] = c.value
        try:
            if not incremental:
                # AlterConfigs replaces: every override not named goes back to its default.
                meta = self.store.topic(resource.resource_name)
                deleted = [k for k in meta.overrides if k not in changes]
            self.store.alter_topic(
                resource.resource_name,
                config=changes,
                delete_config=tuple(deleted),
                validate_only=validate_only or not (changes or deleted),  # nothing to write
            )
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
