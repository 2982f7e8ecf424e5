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

librdkafka reports connection trouble through ``error_cb`` and retries for ever; kcli fails
fast instead while it has not yet reached the cluster, with one line saying why (refused,
unknown host, TLS, authentication) and never a secret.  Its log lines go to stderr only with
``--debug``.

The pieces live in their own modules: kcli.remote.librdkafka (error reports, log lines),
kcli.remote.producer, .consumer and .groups; this module holds the backend itself (clients,
waiting for the cluster, topics) and re-exports their names.
"""

from __future__ import annotations

import concurrent.futures
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

from kcli.client.backend import Backend, BackendInfo, TopicInfo
from kcli.client.error_codes import AUTHORIZATION_FAILED, UNREACHABLE, storage_error_type
from kcli.client.error_codes import ErrorCodes as E
from kcli.connection import Connection
from kcli.errors import KcliError
from kcli.remote.consumer import CONSUMER_DEFAULTS, RemoteConsumer
from kcli.remote.groups import RemoteGroups
from kcli.remote.librdkafka import (
    ErrorReports,
    authentication_error,
    debug_log,
    librdkafka_logger,
    unreachable_error,
)
from kcli.remote.producer import PRODUCER_DEFAULTS, RemoteProducer
from storage import (
    InvalidPartitions,
    PartitionDescription,
    TopicAlreadyExists,
    TopicDescription,
    TopicNotFound,
    validate_topic_name,
)
from storage.errors import partitions_can_only_grow_message, topic_not_found_message
from storage.groups import GroupNotFound, group_not_found_message

__all__ = [
    "CONSUMER_DEFAULTS",
    "DEFAULT_TIMEOUT_S",
    "INSTALL_HINT",
    "PRODUCER_DEFAULTS",
    "RemoteBackend",
    "RemoteConsumer",
    "RemoteGroups",
    "RemoteProducer",
    "authentication_error",
    "confluent",
    "unreachable_error",
]

INSTALL_HINT = "pip install 'kcli-kafka[remote]'"
# How long kcli waits for the cluster before giving up on a request.
DEFAULT_TIMEOUT_S = 30.0
# The longest a single metadata request blocks, so that error reports are looked at often.
_SLICE_S = 2.0

# DescribeConfigs' source of a config set for the topic itself.
_DYNAMIC_TOPIC_CONFIG = 1
_INTEGER = re.compile(r"-?\d+")


def confluent():
    """The confluent_kafka module, or a KcliError saying how to install it."""
    try:
        import confluent_kafka
        import confluent_kafka.admin  # noqa: F401 - fail here, not in the middle of a command
    except ImportError:
        raise KcliError(
            f"talking to a Kafka cluster needs confluent-kafka, which is not installed: "
            f"{INSTALL_HINT}"
        ) from None
    return confluent_kafka


class RemoteBackend(Backend):
    """Topics, records and consumer groups of a Kafka cluster (confluent-kafka)."""

    kind = "remote"

    def __init__(
        self, connection: Connection, *, timeout_s: float = DEFAULT_TIMEOUT_S, debug: bool = False
    ):
        self.ck = confluent()
        self.connection = connection
        self.timeout_s = timeout_s
        self.debug = debug
        self.errors = ErrorReports(connection)
        self._logger = librdkafka_logger(connection, debug)
        self._admin = None
        self._groups: RemoteGroups | None = None
        if debug:
            shown = ", ".join(f"{k}={v}" for k, v in sorted(connection.redacted().items()))
            debug_log.debug("connecting to %s with %s", connection.summary(), shown)

    # -- clients ------------------------------------------------------------------------

    def client_config(
        self, conf: Mapping[str, Any] | None = None, defaults: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """librdkafka settings for a new client: kcli's ``defaults``, then the connection's
        properties, then ``conf`` (a command's own settings; the user's client.id stays)."""
        merged: dict[str, Any] = {"client.id": "kcli", **(defaults or {})}
        merged.update(self.connection.client_config())
        user_client_id = self.connection.properties.get("client.id")
        merged.update(conf or {})
        if user_client_id:
            merged["client.id"] = user_client_id
        merged.pop("data.dir", None)
        merged["error_cb"] = self.errors.error_cb
        merged["logger"] = self._logger
        return merged

    def new_client(
        self, kind: str, conf: Mapping[str, Any], defaults: Mapping[str, Any] | None = None
    ):
        """A confluent-kafka Producer, Consumer or AdminClient; bad settings become KcliError."""
        ck = self.ck
        cls = {
            "producer": ck.Producer,
            "consumer": ck.Consumer,
            "admin": ck.admin.AdminClient,
        }[kind]
        try:
            return cls(self.client_config(conf, defaults))
        except (ck.KafkaException, ValueError, TypeError) as exc:
            reason = exc.args[0].str() if isinstance(exc, ck.KafkaException) else str(exc)
            sources = ", ".join(self.connection.sources)
            raise KcliError(
                f"invalid Kafka client setting{f' in {sources}' if sources else ''}: "
                f"{self.connection.scrub(reason)}"
            ) from None

    @property
    def admin(self):
        if self._admin is None:
            self._admin = self.new_client("admin", {})
        return self._admin

    # -- waiting for the cluster --------------------------------------------------------

    def _deadline(self) -> float:
        return time.monotonic() + self.timeout_s

    def _timed_out(self, what: str) -> KcliError:
        self.errors.check()
        if not self.errors.connected and self.errors.reports:
            return unreachable_error(self.connection, self.errors.reason())
        return KcliError(
            f"no answer from the Kafka cluster at {self.connection.bootstrap_servers} within "
            f"{self.timeout_s:g} s while {what}; check the address, the network and "
            f"security.protocol"
        )

    def metadata(self):
        """Cluster metadata for every topic (never creates a topic)."""
        ck = self.ck
        deadline = self._deadline()
        # Short waits first, so that a refused connection is reported at once; longer ones
        # later, so that a far cluster (TLS, SASL, a slow link) gets time to answer.
        slice_s = 0.2
        while True:
            remaining = deadline - time.monotonic()
            try:
                md = self.admin.list_topics(timeout=max(0.05, min(slice_s, remaining)))
            except ck.KafkaException as exc:
                err = exc.args[0]
                self.admin.poll(0)
                self.errors.check()
                if err.code() not in UNREACHABLE | {E._TIMED_OUT}:
                    raise self.error(err, "reading the cluster's metadata") from None
                if time.monotonic() >= deadline:
                    raise self._timed_out("reading the cluster's metadata") from None
                slice_s = min(slice_s * 2, _SLICE_S)
                continue
            self.errors.connected = True
            return md

    def wait(self, futures: Mapping[Any, concurrent.futures.Future], what: str, **context):
        """Every future's result, by key; the first failure as kcli's error."""
        deadline = self._deadline()
        pending = set(futures.values())
        while pending:
            _done, pending = concurrent.futures.wait(pending, timeout=0.1)
            if pending:
                self.admin.poll(0)
                self.errors.check()
                if time.monotonic() >= deadline:
                    raise self._timed_out(what)
        self.errors.connected = True
        out = {}
        for key, future in futures.items():
            exc = future.exception()
            if exc is not None:
                if isinstance(exc, self.ck.KafkaException):
                    raise self.error(exc.args[0], what, **context) from None
                raise KcliError(f"{what}: {self.connection.scrub(str(exc))}") from None
            out[key] = future.result()
        return out

    def wait_one(self, future: concurrent.futures.Future, what: str, **context):
        return self.wait({None: future}, what, **context)[None]

    def error(self, err, what: str = "", *, topic: str | None = None, group: str | None = None):
        """A KafkaError from the cluster as the exception the local store would raise."""
        code = err.code()
        text = self.connection.scrub(err.str())
        if code == E._AUTHENTICATION:
            return authentication_error(self.connection, text)
        if code == E._TIMED_OUT:
            return self._timed_out(what)
        if code in UNREACHABLE:
            reason = self.errors.reason() if self.errors.reports else text
            return unreachable_error(self.connection, reason)
        if code == E.UNKNOWN_TOPIC_OR_PART and topic is not None:
            return TopicNotFound(topic_not_found_message(topic, self._topic_names()))
        if code == E.GROUP_ID_NOT_FOUND and group is not None:
            return GroupNotFound(group_not_found_message(group, self._group_names()))
        if code in AUTHORIZATION_FAILED:
            return KcliError(
                f"not authorized ({what}): {text}; the cluster's ACLs do not allow this "
                f"{AUTHORIZATION_FAILED[code]} operation for these credentials"
            )
        cls = storage_error_type(code)
        if cls is not None:
            return cls(text)
        return KcliError(f"{what}: {text}" if what else text)

    def _topic_names(self) -> list[str]:
        try:
            return [t.name for t in self.topics()]
        except Exception:  # the names are a hint; the error matters more
            return []

    def _group_names(self) -> list[str]:
        try:
            return [g.group for g in self.groups().list_groups()]
        except Exception:  # a hint only
            return []

    # -- topics -------------------------------------------------------------------------

    def topics(self) -> list[TopicInfo]:
        md = self.metadata()
        return sorted(
            (
                TopicInfo(name, len(t.partitions))
                for name, t in md.topics.items()
                if t.error is None and not name.startswith("__")
            ),
            key=lambda t: t.name,
        )

    def topic(self, name: str) -> TopicInfo:
        validate_topic_name(name)
        md = self.metadata()
        t = md.topics.get(name)
        if t is None or t.error is not None:
            names = sorted(n for n, m in md.topics.items() if m.error is None and n[:2] != "__")
            raise TopicNotFound(topic_not_found_message(name, names))
        return TopicInfo(name, len(t.partitions))

    def topic_exists(self, name: str) -> bool:
        validate_topic_name(name)
        t = self.metadata().topics.get(name)
        return t is not None and t.error is None

    def _create_topic(
        self, name: str, partitions: int, config: dict, if_not_exists: bool, replication_factor: int
    ) -> TopicInfo:
        validate_topic_name(name)
        new = self.ck.admin.NewTopic(
            name,
            num_partitions=partitions,
            replication_factor=replication_factor,  # -1: default.replication.factor
            config={k: str(v) for k, v in config.items()},
        )
        futures = self.admin.create_topics([new], request_timeout=self.timeout_s)
        try:
            self.wait(futures, f"creating topic '{name}'")
        except TopicAlreadyExists:
            if if_not_exists:
                return self.topic(name)
            raise
        return TopicInfo(name, partitions)

    def _alter_topic(self, name: str, partitions: int | None, config: dict | None) -> TopicInfo:
        before = self.topic(name)
        if partitions is not None and partitions < before.partitions:
            raise InvalidPartitions(partitions_can_only_grow_message(name, before.partitions))
        changes = {k: str(v) for k, v in (config or {}).items()}
        if changes:
            # Two requests cannot be one transaction: check the configs before growing, so
            # that a bad value leaves the topic as it was.
            self._set_configs(name, changes, validate_only=True)
        if partitions is not None and partitions > before.partitions:
            new = self.ck.admin.NewPartitions(name, partitions)
            self.wait(
                self.admin.create_partitions([new], request_timeout=self.timeout_s),
                f"adding partitions to topic '{name}'",
                topic=name,
            )
        if changes:
            self._set_configs(name, changes, validate_only=False)
        return TopicInfo(name, partitions if partitions is not None else before.partitions)

    def _set_configs(self, name: str, changes: dict[str, str], *, validate_only: bool) -> None:
        admin = self.ck.admin
        resource = admin.ConfigResource(
            admin.ResourceType.TOPIC,
            name,
            incremental_configs=[
                admin.ConfigEntry(k, v, incremental_operation=admin.AlterConfigOpType.SET)
                for k, v in changes.items()
            ],
        )
        futures = self.admin.incremental_alter_configs(
            [resource], request_timeout=self.timeout_s, validate_only=validate_only
        )
        self.wait(futures, f"changing the configs of topic '{name}'", topic=name)

    def delete_topic(self, name: str) -> None:
        validate_topic_name(name)
        futures = self.admin.delete_topics([name], request_timeout=self.timeout_s)
        self.wait(futures, f"deleting topic '{name}'", topic=name)

    def describe_topic(self, name: str) -> TopicDescription:
        info = self.topic(name)
        numbers = range(info.partitions)
        placed = self.metadata().topics[name].partitions
        starts = self.list_offsets(name, numbers, self.ck.admin.OffsetSpec.earliest())
        ends = self.list_offsets(name, numbers, self.ck.admin.OffsetSpec.latest())
        config, overrides = self.topic_configs(name)
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

    def topic_configs(self, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """(every config with its effective value, the ones set for this topic)."""
        admin = self.ck.admin
        futures = self.admin.describe_configs(
            [admin.ConfigResource(admin.ResourceType.TOPIC, name)],
            request_timeout=self.timeout_s,
        )
        entries = next(iter(self.wait(futures, f"describing topic '{name}'", topic=name).values()))
        config: dict[str, Any] = {}
        overrides: dict[str, Any] = {}
        for key, entry in entries.items():
            value = _typed(entry.value)
            config[key] = value
            if int(getattr(entry.source, "value", entry.source)) == _DYNAMIC_TOPIC_CONFIG:
                overrides[key] = value
        return config, overrides

    def max_message_bytes(self, name: str) -> int | None:
        try:
            limit = self.topic_configs(name)[0].get("max.message.bytes")
        except KcliError:  # not allowed to read configs: the broker still checks
            return None
        return limit if isinstance(limit, int) else None

    def _topic_id(self, name: str) -> str:
        try:
            futures = self.admin.describe_topics(
                self.ck.TopicCollection([name]), request_timeout=self.timeout_s
            )
            desc = self.wait(futures, f"describing topic '{name}'", topic=name)[name]
        except Exception:  # older clusters have no topic ids; the id is not essential
            return ""
        topic_id = str(desc.topic_id or "")
        return "" if set(topic_id) <= {"A", "="} else topic_id  # all zero bits: no id

    def list_offsets(self, topic: str, partitions: Iterable[int], spec) -> dict[int, int]:
        """{partition: offset} for an OffsetSpec (earliest, latest or a timestamp; -1 when no
        record is that late)."""
        wanted = {self.ck.TopicPartition(topic, p): spec for p in partitions}
        if not wanted:
            return {}
        futures = self.admin.list_offsets(wanted, request_timeout=self.timeout_s)
        got = self.wait(futures, f"reading the offsets of topic '{topic}'", topic=topic)
        return {tp.partition: result.offset for tp, result in got.items()}

    # -- records ------------------------------------------------------------------------

    def producer(self, conf: Mapping[str, Any] | None = None):
        return RemoteProducer(self, conf)

    def consumer(self, conf: Mapping[str, Any] | None = None):
        return RemoteConsumer(self, conf)

    # -- groups and the rest ------------------------------------------------------------

    def groups(self) -> RemoteGroups:
        if self._groups is None:
            self._groups = RemoteGroups(self)
        return self._groups

    def info(self) -> BackendInfo:
        md = self.metadata()
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
        # AdminClient has no close(); dropping it lets librdkafka shut it down.
        self._admin = None


def _typed(value: str | None):
    """A config value as the local store gives it: numbers as int."""
    if value is not None and _INTEGER.fullmatch(value):
        return int(value)
    return value
