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
"""

from __future__ import annotations

import concurrent.futures
import logging
import re
import sys
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kcli.backends.base import (
    Backend,
    BackendInfo,
    PartitionDescription,
    TopicDescription,
    TopicInfo,
    group_not_empty_message,
    group_not_found_message,
    partition_not_found_message,
    partitions_can_only_grow_message,
    record_too_large_message,
    topic_not_found_message,
)
from kcli.connection import Connection
from kcli.errors import KcliError

INSTALL_HINT = "pip install 'kcli-kafka[remote]'"
# How long kcli waits for the cluster before giving up on a request.
DEFAULT_TIMEOUT_S = 30.0
# The longest a single metadata request blocks, so that error reports are looked at often.
_SLICE_S = 2.0

# librdkafka's client-side error codes (RD_KAFKA_RESP_ERR__*).
_ERR_SSL = -181
_ERR_TRANSPORT = -195
_ERR_RESOLVE = -193
_ERR_ALL_BROKERS_DOWN = -187
_ERR_TIMED_OUT = -185
_ERR_AUTHENTICATION = -169
_ERR_STATE = -172
_UNREACHABLE = frozenset({_ERR_SSL, _ERR_TRANSPORT, _ERR_RESOLVE, _ERR_ALL_BROKERS_DOWN})
# Kafka's error codes that need words of kcli's own.
_UNKNOWN_TOPIC_OR_PART = 3
_INVALID_TOPIC = 17
_ILLEGAL_GENERATION = 22
_INVALID_GROUP_ID = 24
_UNKNOWN_MEMBER_ID = 25
_REBALANCE_IN_PROGRESS = 27
_AUTHORIZATION_FAILED = {29: "topic", 30: "group", 31: "cluster"}
_TOPIC_ALREADY_EXISTS = 36
_INVALID_PARTITIONS = 37
_INVALID_CONFIG = 40
_NON_EMPTY_GROUP = 68
_GROUP_ID_NOT_FOUND = 69
# DescribeConfigs' source of a config set for the topic itself.
_DYNAMIC_TOPIC_CONFIG = 1
# kcli's choices for its clients (a --command-config or profile may still change them).
PRODUCER_DEFAULTS = {
    # Keys land where Kafka's Java producer (and the local store) put them.
    "partitioner": "murmur2_random",
    "allow.auto.create.topics": False,
}
CONSUMER_DEFAULTS = {
    "auto.offset.reset": "earliest",  # as kcli's own Consumer
    "allow.auto.create.topics": False,
    # How long a broker may hold an empty fetch: the end of a partition is seen this soon.
    "fetch.wait.max.ms": 100,
}
# The assignors librdkafka implements.
_ASSIGNORS = ("range", "roundrobin", "cooperative-sticky")
# A record's bytes in a batch besides key, value and headers (at most), and a batch header.
_RECORD_OVERHEAD = 36
_BATCH_HEADER_SIZE = 61
_INTEGER = re.compile(r"-?\d+")
_GROUP_STATES = {
    "STABLE": "Stable",
    "EMPTY": "Empty",
    "PREPARING_REBALANCING": "PreparingRebalance",
    "COMPLETING_REBALANCING": "CompletingRebalance",
    "DEAD": "Dead",
    "UNKNOWN": "Unknown",
}


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


class _ErrorReports:
    """What librdkafka's error_cb reported, and whether that means giving up now."""

    def __init__(self, connection: Connection):
        self.connection = connection
        self.connected = False  # once the cluster has answered, connection trouble is transient
        self.reports: deque[tuple[int, str]] = deque(maxlen=50)

    def error_cb(self, err) -> None:
        self.reports.append((err.code(), self.connection.scrub(err.str())))

    def check(self) -> None:
        """Raise KcliError for an error no retry will cure."""
        codes = [code for code, _ in self.reports]
        if _ERR_AUTHENTICATION in codes:
            raise authentication_error(self.connection, self._text(_ERR_AUTHENTICATION))
        if not self.connected and _ERR_ALL_BROKERS_DOWN in codes:
            raise unreachable_error(self.connection, self.reason())

    def _text(self, code: int) -> str:
        return next(text for c, text in self.reports if c == code)

    def reason(self) -> str:
        """The most telling report of why no broker can be reached."""
        for code in (_ERR_AUTHENTICATION, _ERR_SSL, _ERR_RESOLVE, _ERR_TRANSPORT):
            for c, text in self.reports:
                if c == code:
                    return text
        return self.reports[-1][1] if self.reports else "no broker answered"


def unreachable_error(connection: Connection, reason: str) -> KcliError:
    hint = "check the address and that the cluster is running"
    lowered = reason.lower()
    if "refused" in lowered:
        hint = "is a broker running there? check the host and port"
    elif "resolve" in lowered or "name or service" in lowered:
        hint = "check the host name"
    elif "ssl" in lowered or "certificate" in lowered or "handshake" in lowered:
        hint = "check security.protocol and ssl.ca.location"
    elif "apiversion" in lowered or "disconnected" in lowered:
        hint = "does security.protocol match the listener (PLAINTEXT, SSL, SASL_SSL)?"
    return KcliError(
        f"cannot connect to the Kafka cluster at {connection.bootstrap_servers} "
        f"({connection.origin}): {reason}; {hint}"
    )


def authentication_error(connection: Connection, reason: str) -> KcliError:
    return KcliError(
        f"the Kafka cluster at {connection.bootstrap_servers} refused the credentials: "
        f"{reason}; check sasl.mechanism, sasl.username and sasl.password (for Confluent "
        f"Cloud: PLAIN with an API key and its secret)"
    )


class _Logs(logging.Handler):
    """librdkafka's log lines: shown (secrets masked) on stderr with --debug, else dropped."""

    def __init__(self, connection: Connection):
        super().__init__()
        self.connection = connection

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(f"kcli: librdkafka: {self.connection.scrub(record.getMessage())}\n")
        except Exception:  # a log line must never break a command
            pass


def _librdkafka_logger(connection: Connection, debug: bool) -> logging.Logger:
    logger = logging.getLogger(f"kcli.librdkafka.{id(connection)}")
    if not logger.handlers:
        logger.propagate = False
        if debug:
            logger.addHandler(_Logs(connection))
            logger.setLevel(logging.DEBUG)
        else:
            logger.addHandler(logging.NullHandler())
            logger.setLevel(logging.CRITICAL + 1)
    return logger


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
        self.errors = _ErrorReports(connection)
        self._logger = _librdkafka_logger(connection, debug)
        self._admin = None
        self._groups: RemoteGroups | None = None
        if debug:
            shown = ", ".join(f"{k}={v}" for k, v in sorted(connection.redacted().items()))
            sys.stderr.write(f"kcli: connecting to {connection.summary()} with {shown}\n")

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
                if err.code() not in _UNREACHABLE | {_ERR_TIMED_OUT}:
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
        from storage import errors as se
        from storage import groups as sg

        code = err.code()
        text = self.connection.scrub(err.str())
        if code == _ERR_AUTHENTICATION:
            return authentication_error(self.connection, text)
        if code in _UNREACHABLE or code == _ERR_TIMED_OUT:
            return (
                self._timed_out(what)
                if code == _ERR_TIMED_OUT
                else unreachable_error(
                    self.connection, self.errors.reason() if self.errors.reports else text
                )
            )
        if code == _UNKNOWN_TOPIC_OR_PART and topic is not None:
            return se.TopicNotFound(topic_not_found_message(topic, self._topic_names()))
        if code == _GROUP_ID_NOT_FOUND and group is not None:
            return sg.GroupNotFound(group_not_found_message(group, self._group_names()))
        if code in _AUTHORIZATION_FAILED:
            return KcliError(
                f"not authorized ({what}): {text}; the cluster's ACLs do not allow this "
                f"{_AUTHORIZATION_FAILED[code]} operation for these credentials"
            )
        cls = {
            _TOPIC_ALREADY_EXISTS: se.TopicAlreadyExists,
            _INVALID_PARTITIONS: se.InvalidPartitions,
            _INVALID_CONFIG: se.InvalidConfig,
            _INVALID_TOPIC: se.InvalidTopicName,
            _UNKNOWN_TOPIC_OR_PART: se.TopicNotFound,
            _NON_EMPTY_GROUP: sg.GroupNotEmpty,
            _GROUP_ID_NOT_FOUND: sg.GroupNotFound,
            _INVALID_GROUP_ID: sg.InvalidGroupId,
        }.get(code)
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
        from storage import TopicNotFound, validate_topic_name

        validate_topic_name(name)
        md = self.metadata()
        t = md.topics.get(name)
        if t is None or t.error is not None:
            names = sorted(n for n, m in md.topics.items() if m.error is None and n[:2] != "__")
            raise TopicNotFound(topic_not_found_message(name, names))
        return TopicInfo(name, len(t.partitions))

    def topic_exists(self, name: str) -> bool:
        from storage import validate_topic_name

        validate_topic_name(name)
        t = self.metadata().topics.get(name)
        return t is not None and t.error is None

    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        config: Mapping[str, str] | None = None,
        *,
        if_not_exists: bool = False,
    ) -> TopicInfo:
        from storage import TopicAlreadyExists, validate_topic_name

        validate_topic_name(name)
        new = self.ck.admin.NewTopic(
            name,
            num_partitions=partitions,
            replication_factor=-1,  # the cluster's default.replication.factor
            config={k: str(v) for k, v in (config or {}).items()},
        )
        futures = self.admin.create_topics([new], request_timeout=self.timeout_s)
        try:
            self.wait(futures, f"creating topic '{name}'")
        except TopicAlreadyExists:
            if if_not_exists:
                return self.topic(name)
            raise
        return TopicInfo(name, partitions)

    def alter_topic(
        self,
        name: str,
        *,
        partitions: int | None = None,
        config: Mapping[str, str] | None = None,
    ) -> TopicInfo:
        from storage import InvalidPartitions

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
        from storage import validate_topic_name

        validate_topic_name(name)
        futures = self.admin.delete_topics([name], request_timeout=self.timeout_s)
        self.wait(futures, f"deleting topic '{name}'", topic=name)

    def describe_topic(self, name: str) -> TopicDescription:
        info = self.topic(name)
        numbers = range(info.partitions)
        starts = self.list_offsets(name, numbers, self.ck.admin.OffsetSpec.earliest())
        ends = self.list_offsets(name, numbers, self.ck.admin.OffsetSpec.latest())
        config, overrides = self.topic_configs(name)
        return TopicDescription(
            topic=name,
            topic_id=self._topic_id(name),
            partitions=tuple(
                PartitionDescription(p, starts[p], ends[p], None, None) for p in numbers
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


# -- records ------------------------------------------------------------------------------


def _kafka_error(backend: RemoteBackend, err):
    """confluent-kafka's KafkaError as kcli's (secrets masked)."""
    from kcli.client.types import KafkaError

    return KafkaError(err.code(), backend.connection.scrub(err.str()), err.fatal(), err.retriable())


def _kafka_exception(backend: RemoteBackend, exc):
    from kcli.client.types import KafkaException

    return KafkaException(_kafka_error(backend, exc.args[0]))


class RemoteProducer:
    """kcli's Producer API over confluent-kafka's Producer, for ``kcli produce`` and ``perf``.

    Checks what the local producer checks before queueing (unknown topic or partition, a
    record over the topic's max.message.bytes, a bad timestamp) and raises the same
    KafkaException; delivery reports carry kcli Messages and KafkaErrors.
    """

    def __init__(self, backend: RemoteBackend, conf: Mapping[str, Any] | None = None):
        from storage import RoundRobin

        conf = dict(conf or {})
        self._backend = backend
        self._default_cb = conf.pop("on_delivery", None)
        self._p = backend.new_client("producer", conf, PRODUCER_DEFAULTS)
        self._round_robin = RoundRobin()
        self._meta: dict[str, tuple[int, int | None]] = {}
        self._last_cb = self._last_wrapped = None
        self._closed = False

    def _load_meta(self, topic: str) -> tuple[int, int | None]:
        from kcli.client.types import KafkaError, KafkaException
        from storage import StorageError

        try:
            partitions = self._backend.topic(topic).partitions
        except StorageError as exc:
            raise KafkaException(KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART, str(exc))) from None
        try:
            config, _ = self._backend.topic_configs(topic)
            limit = config.get("max.message.bytes")
        except KcliError:  # not allowed to read configs: the broker still checks
            limit = None
        meta = (partitions, limit if isinstance(limit, int) else None)
        self._meta[topic] = meta
        return meta

    def _callback(self, cb):
        """A confluent-kafka delivery callback calling ``cb(err, msg)`` with kcli types."""
        if cb is None:
            return None
        if cb is self._last_cb:  # the usual case: one callback for every record
            return self._last_wrapped
        from kcli.client.types import Message

        backend = self._backend

        def report(err, msg):
            kerr = None if err is None else _kafka_error(backend, err)
            ts_type, ts = msg.timestamp()
            cb(
                kerr,
                Message(
                    msg.topic(),
                    msg.partition(),
                    msg.offset(),
                    ts_type,
                    ts,
                    msg.key(),
                    msg.value(),
                    msg.headers(),
                    kerr,
                ),
            )

        self._last_cb, self._last_wrapped = cb, report
        return report

    def produce(
        self,
        topic: str,
        value=None,
        key=None,
        partition: int = -1,
        on_delivery=None,
        timestamp: int = 0,
        headers=None,
        callback=None,
    ) -> None:
        """Queue one record (see kcli.client.Producer.produce)."""
        from kcli.client.types import KafkaError, KafkaException

        if self._closed:
            raise RuntimeError("Producer has been closed")
        meta = self._meta.get(topic) or self._load_meta(topic)
        partitions, limit = meta
        if isinstance(value, str):
            value = value.encode("utf-8")
        if isinstance(key, str):
            key = key.encode("utf-8")
        if partition < 0:
            if partitions == 1:
                partition = 0
            elif key is None:
                partition = self._round_robin.partition(partitions)
            # else: librdkafka's murmur2_random picks it, as Kafka's Java producer would
        elif partition >= partitions:
            raise KafkaException(
                KafkaError(
                    KafkaError._UNKNOWN_PARTITION,
                    partition_not_found_message(topic, partitions, partition),
                )
            )
        if timestamp and (timestamp.__class__ is not int or timestamp < 0):
            raise KafkaException(
                KafkaError(
                    KafkaError._INVALID_ARG,
                    f"invalid timestamp {timestamp!r}: use milliseconds since the epoch "
                    f"(a whole number >= 0; 0 means now)",
                )
            )
        if limit is not None:
            size = (len(value) if value else 0) + (len(key) if key else 0)
            if headers:
                size += sum(len(k.encode()) + len(v or b"") + 10 for k, v in _pairs(headers))
            if size > limit - _RECORD_OVERHEAD - _BATCH_HEADER_SIZE:
                _check_size(topic, limit, value, key, headers)
        cb = self._callback(on_delivery or callback or self._default_cb)
        try:
            self._p.produce(
                topic,
                value,
                key,
                partition,
                on_delivery=cb,
                timestamp=timestamp or 0,
                headers=list(_pairs(headers)) if headers else None,
            )
        except self._backend.ck.KafkaException as exc:
            raise _kafka_exception(self._backend, exc) from None

    def produce_many(
        self,
        topic: str,
        values: list,
        key=None,
        partition: int = -1,
        headers=None,
        on_delivery=None,
    ) -> int:
        """kcli-only: one record per value, all with the same key and headers.  Waits for
        room when librdkafka's queue is full.  On an error, ``queued`` says how many values
        before the failing one were queued."""
        from kcli.client.types import KafkaException

        produce = self.produce
        for i, value in enumerate(values):
            while True:
                try:
                    produce(topic, value, key, partition, on_delivery, 0, headers)
                    break
                except BufferError:
                    self.poll(0.05)
                except KafkaException as exc:
                    exc.queued = i
                    raise
        return len(values)

    def poll(self, timeout: float | None = None) -> int:
        """Serve delivery reports (waiting up to ``timeout`` seconds for one)."""
        try:
            served = self._p.poll(-1 if timeout is None else timeout)
        except self._backend.ck.KafkaException as exc:
            raise _kafka_exception(self._backend, exc) from None
        self._check()
        return served

    def flush(self, timeout: float | None = None) -> int:
        """Wait until every queued record is acknowledged (or failed); return how many are
        still waiting.  Fails fast on errors no retry will cure (authentication)."""
        deadline = None if timeout is None or timeout < 0 else time.monotonic() + timeout
        while True:
            step = 0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic()))
            left = self._p.flush(step)
            self._check()
            if left == 0 or (deadline is not None and time.monotonic() >= deadline):
                self._meta.clear()  # pick up partitions added meanwhile
                return left

    def _check(self) -> None:
        from kcli.client.types import KafkaError, KafkaException

        try:
            self._backend.errors.check()
        except KcliError as exc:
            raise KafkaException(KafkaError(KafkaError._FATAL, str(exc))) from None

    def __len__(self) -> int:
        return len(self._p)

    def __bool__(self) -> bool:
        return True

    def close(self, timeout: float | None = None) -> None:
        """Deliver what is queued, then disconnect."""
        if self._closed:
            return
        try:
            self.flush(timeout)
        finally:
            self._closed = True
            try:
                self._p.close()
            except Exception:  # closing twice or after a fatal error: nothing left to do
                pass


def _pairs(headers) -> list[tuple[str, bytes | None]]:
    items = headers.items() if isinstance(headers, dict) else headers
    out = []
    for k, v in items:
        if isinstance(v, str):
            v = v.encode("utf-8")
        out.append((k, v))
    return out


def _check_size(topic: str, limit: int, value, key, headers) -> None:
    """The exact size of the record as a one-record batch, against max.message.bytes."""
    from kcli.client.types import KafkaError, KafkaException
    from storage.records import ProducerRecord, encode_batch

    record = ProducerRecord(value, key, tuple(_pairs(headers or ())), 0)
    size = len(encode_batch([record], timestamp=0))
    if size > limit:
        raise KafkaException(
            KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, record_too_large_message(topic, size, limit))
        )


class RemoteConsumer:
    """kcli's Consumer API over confluent-kafka's Consumer, for ``kcli consume`` and ``perf``.

    Without ``group.id`` it only reads what it is assigned and commits nothing (librdkafka
    gets a throwaway group id).  ``auto.offset.reset`` defaults to earliest, as kcli's
    Consumer does.  With ``cooperative-sticky`` the rebalance callbacks are given the whole
    assignment, as kcli's own Consumer gives it, not only the partitions that moved.
    """

    def __init__(self, backend: RemoteBackend, conf: Mapping[str, Any] | None = None):
        from kcli.client.types import KafkaError, KafkaException

        conf = dict(conf or {})
        self._backend = backend
        self._grouped = bool(conf.get("group.id"))
        if not self._grouped:
            conf["group.id"] = f"kcli-no-group-{uuid.uuid4().hex[:12]}"
            conf["enable.auto.commit"] = False
            conf["enable.auto.offset.store"] = False
        strategy = str(conf.get("partition.assignment.strategy", "range"))
        names = [s.strip() for s in strategy.split(",") if s.strip()]
        bad = [s for s in names if s not in _ASSIGNORS]
        if bad:
            raise KafkaException(
                KafkaError(
                    KafkaError._INVALID_ARG,
                    f"the '{bad[0]}' assignor is not available with a Kafka cluster through "
                    f"librdkafka; use one of: {', '.join(_ASSIGNORS)}",
                )
            )
        self._cooperative = "cooperative-sticky" in names
        self._group_id = str(conf["group.id"])
        self._auto_commit = str(conf.get("enable.auto.commit", True)).lower() in ("true", "1")
        self._c = backend.new_client("consumer", conf, CONSUMER_DEFAULTS)
        self._on_assign = self._on_revoke = self._on_lost = None
        self._closed = False

    # -- conversions --------------------------------------------------------------------

    def _ctp(self, tp):
        out = self._backend.ck.TopicPartition(tp.topic, tp.partition, tp.offset)
        if getattr(tp, "metadata", None):
            out.metadata = tp.metadata
        return out

    @staticmethod
    def _ktp(tp):
        from kcli.client.types import TopicPartition

        return TopicPartition(tp.topic, tp.partition, tp.offset)

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except self._backend.ck.KafkaException as exc:
            raise _kafka_exception(self._backend, exc) from None

    def _check(self) -> None:
        from kcli.client.types import KafkaError, KafkaException

        try:
            self._backend.errors.check()
        except KcliError as exc:
            raise KafkaException(KafkaError(KafkaError._FATAL, str(exc))) from None

    # -- assignment and groups ----------------------------------------------------------

    def assign(self, partitions: Sequence) -> None:
        self._call(self._c.assign, [self._ctp(tp) for tp in partitions])

    def incremental_assign(self, partitions: Sequence) -> None:
        self._call(self._c.incremental_assign, [self._ctp(tp) for tp in partitions])

    def incremental_unassign(self, partitions: Sequence) -> None:
        self._call(self._c.incremental_unassign, [self._ctp(tp) for tp in partitions])

    def unassign(self) -> None:
        self._call(self._c.unassign)

    def assignment(self) -> list:
        return sorted(self._ktp(tp) for tp in self._call(self._c.assignment))

    def subscribe(self, topics: list[str], on_assign=None, on_revoke=None, on_lost=None) -> None:
        """Join the group; the callbacks get this consumer and kcli TopicPartitions."""
        self._on_assign, self._on_revoke, self._on_lost = on_assign, on_revoke, on_lost
        kwargs = {"on_assign": self._assigned, "on_revoke": self._revoked}
        if on_lost is not None:
            kwargs["on_lost"] = self._lost
        self._call(self._c.subscribe, list(topics), **kwargs)

    def unsubscribe(self) -> None:
        self._call(self._c.unsubscribe)

    def _assigned(self, consumer, partitions) -> None:
        if self._cooperative:
            self._c.incremental_assign(partitions)
            partitions = list(
                {
                    (tp.topic, tp.partition): tp for tp in [*self._c.assignment(), *partitions]
                }.values()
            )
        if self._on_assign is not None:
            self._on_assign(self, sorted(self._ktp(tp) for tp in partitions))

    def _revoked(self, consumer, partitions) -> None:
        if self._on_revoke is not None:
            self._on_revoke(self, sorted(self._ktp(tp) for tp in partitions))
        if self._cooperative:
            self._c.incremental_unassign(partitions)
            gone = {(tp.topic, tp.partition) for tp in partitions}
            left = [tp for tp in self._c.assignment() if (tp.topic, tp.partition) not in gone]
            if left and self._on_assign is not None:
                self._on_assign(self, sorted(self._ktp(tp) for tp in left))

    def _lost(self, consumer, partitions) -> None:
        if self._on_lost is not None:
            self._on_lost(self, sorted(self._ktp(tp) for tp in partitions))

    def memberid(self) -> str | None:
        return self._c.memberid() if self._grouped else None

    # -- offsets ------------------------------------------------------------------------

    def get_watermark_offsets(self, partition, timeout: float | None = None, cached=False):
        """(log_start_offset, log_end_offset) of a partition."""
        t = self._backend.timeout_s if timeout is None else timeout
        got = self._call(self._c.get_watermark_offsets, self._ctp(partition), t, cached)
        if got is None:
            raise self._backend._timed_out(
                f"reading the offsets of {partition.topic}-{partition.partition}"
            )
        return got

    def offsets_for_times(self, partitions: Sequence, timeout: float | None = None) -> list:
        t = self._backend.timeout_s if timeout is None else timeout
        found = self._call(self._c.offsets_for_times, [self._ctp(tp) for tp in partitions], t)
        return [self._ktp(tp) for tp in found]

    def position(self, partitions: Sequence) -> list:
        return [
            self._ktp(tp)
            for tp in self._call(self._c.position, [self._ctp(tp) for tp in partitions])
        ]

    def committed(self, partitions: Sequence, timeout: float | None = None) -> list:
        t = self._backend.timeout_s if timeout is None else timeout
        got = self._call(self._c.committed, [self._ctp(tp) for tp in partitions], t)
        return [self._ktp(tp) for tp in got]

    def store_offsets(self, message=None, offsets: Sequence | None = None) -> None:
        """Mark offsets for the next commit; partitions no longer assigned are skipped, as
        kcli's Consumer skips them."""
        from kcli.client.types import TopicPartition

        todo = list(offsets or [])
        if message is not None:
            todo.append(TopicPartition(message.topic(), message.partition(), message.offset() + 1))
        if not todo:
            return
        try:
            self._c.store_offsets(offsets=[self._ctp(tp) for tp in todo])
        except self._backend.ck.KafkaException as exc:
            if exc.args[0].code() != _ERR_STATE:  # unassigned meanwhile (a rebalance)
                raise _kafka_exception(self._backend, exc) from None

    def commit(self, message=None, offsets: Sequence | None = None, asynchronous: bool = True):
        kwargs: dict[str, Any] = {"asynchronous": asynchronous}
        if message is not None:
            offsets = [self._ktp_of(message)]
        if offsets is not None:
            kwargs["offsets"] = [self._ctp(tp) for tp in offsets]
        got = self._call(self._c.commit, **kwargs)
        return None if got is None else [self._ktp(tp) for tp in got]

    @staticmethod
    def _ktp_of(message):
        from kcli.client.types import TopicPartition

        return TopicPartition(message.topic(), message.partition(), message.offset() + 1)

    # -- reading ------------------------------------------------------------------------

    def _message(self, m):
        from kcli.client.types import Message

        err = m.error()
        if err is not None:
            kerr = _kafka_error(self._backend, err)
            return Message(m.topic(), m.partition(), m.offset(), 0, -1, None, None, None, kerr)
        ts_type, ts = m.timestamp()
        return Message(
            m.topic(), m.partition(), m.offset(), ts_type, ts, m.key(), m.value(), m.headers(), None
        )

    def poll(self, timeout: float | None = None):
        m = self._call(self._c.poll, -1 if timeout is None else timeout)
        self._check()
        return None if m is None else self._message(m)

    def _consume(self, num_messages: int, timeout: float | None) -> list:
        """Up to ``num_messages`` messages, returning as soon as any are there (librdkafka's
        consume() waits for all of them until the timeout)."""
        got = self._call(self._c.consume, num_messages, 0)
        if not got and timeout != 0:
            got = self._call(self._c.consume, 1, -1 if timeout is None else timeout)
            if got and num_messages > 1:
                got += self._call(self._c.consume, num_messages - 1, 0)
        self._check()
        return got

    def consume(self, num_messages: int = 1, timeout: float | None = -1) -> list:
        return [self._message(m) for m in self._consume(num_messages, timeout)]

    def consume_records(self, max_records: int = 100_000, timeout: float | None = -1) -> list:
        """kcli-only: records as ``(topic, partition, [(offset, timestamp, key, value,
        headers), ...])`` runs, events (end of partition ...) as error Messages."""
        from kcli.client.types import Message

        got = self._consume(min(max_records, 1_000_000), timeout)
        out: list = []
        run: list | None = None
        where = None
        for m in got:
            err = m.error()
            if err is not None:
                kerr = _kafka_error(self._backend, err)
                out.append(
                    Message(m.topic(), m.partition(), m.offset(), 0, -1, None, None, None, kerr)
                )
                where = None
                continue
            here = (m.topic(), m.partition())
            if here != where:
                run = []
                out.append((here[0], here[1], run))
                where = here
            run.append((m.offset(), m.timestamp()[1], m.key(), m.value(), m.headers() or ()))
        return out

    def close(self) -> None:
        """Commit (with enable.auto.commit), leave the group, disconnect.

        Returns once the commit is acknowledged and the cluster no longer counts this
        consumer as a member, as kcli's own Consumer does: a ``kcli group describe`` or
        ``reset`` run right after sees the group as this consumer left it.
        """
        if self._closed:
            return
        self._closed = True
        member_id = self.memberid() if self._grouped else None
        if self._grouped and self._auto_commit:
            try:
                self._c.commit(asynchronous=False)
            except self._backend.ck.KafkaException:
                pass  # nothing stored, or the group moved on: close() says the rest
        self._call(self._c.close)
        if member_id:
            self._backend.groups().wait_until_left(self._group_id, member_id)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# -- consumer groups ----------------------------------------------------------------------


class RemoteGroups:
    """The consumer groups of a cluster, with GroupStore's methods and value types.

    The admin API does not tell a group's generation, nor member pids and heartbeats: those
    are None (generation, pid) and -1 (last_heartbeat_ms).  A member's subscribed topics are
    the topics of its assignment.
    """

    def __init__(self, backend: RemoteBackend):
        self._b = backend

    def _ck(self):
        return self._b.ck

    def list_groups(self) -> list:
        from storage.groups import GroupSummary

        b = self._b
        result = b.wait_one(
            b.admin.list_consumer_groups(request_timeout=b.timeout_s), "listing consumer groups"
        )
        if result.errors and not result.valid:
            raise b.error(result.errors[0], "listing consumer groups")
        ids = sorted({g.group_id for g in result.valid})
        described = self._describe(ids)
        out = []
        for gid in ids:
            d = described.get(gid)
            if d is None:
                continue
            out.append(
                GroupSummary(gid, d.state, len(d.members), d.assignor, d.generation, d.coordinator)
            )
        return out

    def _describe(self, ids: list[str]) -> dict:
        """{group: GroupDescription, or None for a group the cluster does not know}."""
        from storage.groups import GroupDescription, MemberDescription

        if not ids:
            return {}
        b = self._b
        futures = b.admin.describe_consumer_groups(ids, request_timeout=b.timeout_s)
        got = b.wait(futures, "describing consumer groups")
        out: dict = {}
        for gid, g in got.items():
            state = _GROUP_STATES.get(getattr(g.state, "name", str(g.state)), str(g.state))
            if state == "Dead" and not g.members:
                out[gid] = None
                continue
            members = []
            for m in sorted(g.members, key=lambda m: m.member_id):
                tps = m.assignment.topic_partitions if m.assignment else []
                assignment = tuple(sorted((tp.topic, tp.partition) for tp in tps))
                members.append(
                    MemberDescription(
                        member_id=m.member_id,
                        client_id=m.client_id,
                        host=m.host,
                        pid=None,
                        topics=tuple(sorted({t for t, _ in assignment})),
                        assignment=assignment,
                        last_heartbeat_ms=-1,
                    )
                )
            node = g.coordinator
            out[gid] = GroupDescription(
                group=gid,
                state=state,
                protocol_type="consumer",
                assignor=g.partition_assignor or "",
                generation=None,
                coordinator=f"{node.host}:{node.port} (id: {node.id})" if node else "",
                members=tuple(members),
            )
        return out

    def describe_group(self, group: str):
        from storage.groups import GroupNotFound, validate_group_id

        validate_group_id(group)
        desc = self._describe([group])[group]
        if desc is None:
            raise GroupNotFound(group_not_found_message(group, self._b._group_names()))
        return desc

    def wait_until_left(self, group: str, member_id: str, timeout_s: float = 10.0) -> None:
        """Wait (a little) until ``member_id`` is no longer in the group: librdkafka sends
        LeaveGroup as it closes but does not wait for the answer."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                desc = self._describe([group]).get(group)
            except Exception:  # not allowed to describe groups: nothing to wait on
                return
            if desc is None or all(m.member_id != member_id for m in desc.members):
                return
            time.sleep(0.02)

    def committed(self, group: str, partitions: list[tuple[str, int]] | None = None) -> dict:
        """{(topic, partition): committed offset} (partitions without one are left out)."""
        ck, b = self._ck(), self._b
        request = ck.ConsumerGroupTopicPartitions(
            group, None if partitions is None else [ck.TopicPartition(t, p) for t, p in partitions]
        )
        futures = b.admin.list_consumer_group_offsets([request], request_timeout=b.timeout_s)
        got = b.wait(futures, f"reading the committed offsets of group '{group}'", group=group)
        return {
            (tp.topic, tp.partition): tp.offset
            for tp in got[group].topic_partitions or []
            if tp.offset >= 0 and tp.error is None
        }

    def partition_offsets(self, group: str) -> list:
        from storage.groups import PartitionOffsets

        b = self._b
        desc = self.describe_group(group)
        committed = self.committed(group)
        owner = {tp: m for m in desc.members for tp in m.assignment}
        topics = {t for t, _ in committed} | {t for m in desc.members for t in m.topics}
        md = b.metadata()
        wanted: list[tuple[str, int]] = []
        for topic in sorted(topics):
            t = md.topics.get(topic)
            count = len(t.partitions) if t is not None and t.error is None else 0
            known = {p for tt, p in committed if tt == topic}
            wanted += [(topic, p) for p in sorted(set(range(count)) | known) if p < count]
        ends: dict[tuple[str, int], int] = {}
        for topic in sorted({t for t, _ in wanted}):
            parts = [p for t, p in wanted if t == topic]
            for p, end in b.list_offsets(topic, parts, b.ck.admin.OffsetSpec.latest()).items():
                ends[(topic, p)] = end
        rows = []
        for key in wanted:
            c = committed.get(key)
            m = owner.get(key)
            rows.append(
                PartitionOffsets(
                    topic=key[0],
                    partition=key[1],
                    committed_offset=c,
                    log_end_offset=ends[key],
                    lag=None if c is None else ends[key] - c,
                    member_id=m.member_id if m else None,
                    client_id=m.client_id if m else None,
                    host=m.host if m else None,
                )
            )
        return rows

    def check_inactive(self, group: str, verb: str = "reset") -> None:
        from storage.groups import GroupNotEmpty, validate_group_id

        validate_group_id(group)
        desc = self._describe([group])[group]
        if desc is not None and desc.members:
            raise GroupNotEmpty(group_not_empty_message(group, list(desc.members), verb))

    def plan_reset(self, group: str, topic: str, spec, partitions: Sequence[int] | None = None):
        from storage import PartitionNotFound, StorageError
        from storage.groups import OffsetReset, validate_group_id

        b = self._b
        validate_group_id(group)
        count = b.topic(topic).partitions
        numbers = list(range(count)) if partitions is None else list(partitions)
        for p in numbers:
            if not 0 <= p < count:
                raise PartitionNotFound(partition_not_found_message(topic, count, p))
        committed = self.committed(group, [(topic, p) for p in numbers])
        specs = b.ck.admin.OffsetSpec
        starts = b.list_offsets(topic, numbers, specs.earliest())
        ends = b.list_offsets(topic, numbers, specs.latest())
        found = {}
        if spec.kind == "datetime":
            found = b.list_offsets(topic, numbers, specs.for_timestamp(spec.value))
        plan = []
        for p in numbers:
            start, end = starts[p], ends[p]
            old = committed.get((topic, p))
            if spec.kind == "earliest":
                target = start
            elif spec.kind == "latest":
                target = end
            elif spec.kind == "offset":
                target = spec.value
            elif spec.kind == "shift":
                target = (start if old is None else old) + spec.value
            elif spec.kind == "datetime":
                target = end if found[p] < 0 else found[p]
            else:
                raise StorageError(f"unknown reset kind '{spec.kind}'")
            new = min(max(target, start), end)
            plan.append(
                OffsetReset(
                    topic=topic,
                    partition=p,
                    committed_offset=old,
                    new_offset=new,
                    log_start_offset=start,
                    log_end_offset=end,
                    clamped=new != target,
                )
            )
        return plan

    def execute_reset(self, group: str, plan: Sequence) -> None:
        from storage.groups import GroupNotEmpty

        if not plan:
            return
        ck, b = self._ck(), self._b
        self.check_inactive(group, "reset")
        request = ck.ConsumerGroupTopicPartitions(
            group, [ck.TopicPartition(r.topic, r.partition, r.new_offset) for r in plan]
        )
        futures = b.admin.alter_consumer_group_offsets([request], request_timeout=b.timeout_s)
        what = f"resetting the offsets of group '{group}'"
        got = b.wait(futures, what, group=group)
        for tp in got[group].topic_partitions or []:
            if tp.error is None:
                continue
            if tp.error.code() in (_UNKNOWN_MEMBER_ID, _REBALANCE_IN_PROGRESS, _ILLEGAL_GENERATION):
                # A member joined between the check and the commit.
                raise GroupNotEmpty(
                    f"group '{group}' has live members; its offsets can only be reset while "
                    f"the group is inactive — stop its consumers and try again"
                )
            raise b.error(tp.error, what, group=group)

    def delete_group(self, group: str) -> None:
        from storage.groups import GroupNotEmpty, GroupNotFound, validate_group_id

        b = self._b
        validate_group_id(group)
        desc = self._describe([group])[group]
        if desc is None:
            raise GroupNotFound(group_not_found_message(group, b._group_names()))
        if desc.members:
            raise GroupNotEmpty(group_not_empty_message(group, list(desc.members), "deleted"))
        futures = b.admin.delete_consumer_groups([group], request_timeout=b.timeout_s)
        b.wait(futures, f"deleting group '{group}'", group=group)
