"""One connection to a Kafka cluster, through confluent-kafka (librdkafka), that kcli's
remote clients share (as sarama's ``Client`` or kafka-python's ``KafkaClient``).

``ClusterClient`` makes confluent-kafka clients with kcli's settings, holds the admin client,
reads topic metadata and offsets, waits for the cluster's answers within a deadline, and
turns its errors into the exceptions the local store raises.  The producer, the consumer,
the groups and the admin client are built over it; ``RemoteBackend`` composes it into the
CLI's view of a cluster.

librdkafka reports connection trouble through ``error_cb`` and retries for ever; kcli fails
fast instead while it has not yet reached the cluster (kcli.remote.librdkafka).
"""

from __future__ import annotations

import concurrent.futures
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

from kcli.client.backend import TopicInfo
from kcli.client.error_codes import AUTHORIZATION_FAILED, UNREACHABLE, storage_error_type
from kcli.client.error_codes import ErrorCodes as E
from kcli.connection import Connection
from kcli.errors import KcliError
from kcli.remote.librdkafka import (
    ErrorReports,
    authentication_error,
    debug_log,
    librdkafka_logger,
    unreachable_error,
)
from storage import TopicNotFound, validate_topic_name
from storage.errors import topic_not_found_message

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


class ClusterClient:
    """A Kafka cluster's connection: new clients, the admin client, metadata, waiting."""

    def __init__(
        self, connection: Connection, *, timeout_s: float = DEFAULT_TIMEOUT_S, debug: bool = False
    ):
        self.ck = confluent()
        self.connection = connection
        self.timeout_s = timeout_s
        self.errors = ErrorReports(connection)
        self._logger = librdkafka_logger(connection, debug)
        self._admin = None
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

    def close(self) -> None:
        # AdminClient has no close(); dropping it lets librdkafka shut it down.
        self._admin = None

    # -- waiting for the cluster --------------------------------------------------------

    def _deadline(self) -> float:
        return time.monotonic() + self.timeout_s

    def timed_out(self, what: str) -> KcliError:
        """The error for a request the cluster did not answer in time (or, before it ever
        answered, why it cannot be reached)."""
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
                    raise self.timed_out("reading the cluster's metadata") from None
                slice_s = min(slice_s * 2, _SLICE_S)
                continue
            self.errors.connected = True
            return md

    def wait(
        self, futures: Mapping[Any, concurrent.futures.Future], what: str, *, topic=None
    ) -> dict:
        """Every future's result, by key; the first failure as kcli's error."""
        deadline = self._deadline()
        pending = set(futures.values())
        while pending:
            _done, pending = concurrent.futures.wait(pending, timeout=0.1)
            if pending:
                self.admin.poll(0)
                self.errors.check()
                if time.monotonic() >= deadline:
                    raise self.timed_out(what)
        self.errors.connected = True
        out = {}
        for key, future in futures.items():
            exc = future.exception()
            if exc is not None:
                if isinstance(exc, self.ck.KafkaException):
                    raise self.error(exc.args[0], what, topic=topic) from None
                raise KcliError(f"{what}: {self.connection.scrub(str(exc))}") from None
            out[key] = future.result()
        return out

    def wait_one(self, future: concurrent.futures.Future, what: str):
        return self.wait({None: future}, what)[None]

    def error(self, err, what: str = "", *, topic: str | None = None):
        """A KafkaError from the cluster as the exception the local store would raise
        (``topic``: the topic a request was about, named with the ones there are when the
        cluster does not know it)."""
        code = err.code()
        text = self.connection.scrub(err.str())
        if code == E._AUTHENTICATION:
            return authentication_error(self.connection, text)
        if code == E._TIMED_OUT:
            return self.timed_out(what)
        if code in UNREACHABLE:
            reason = self.errors.reason() if self.errors.reports else text
            return unreachable_error(self.connection, reason)
        if code == E.UNKNOWN_TOPIC_OR_PART and topic is not None:
            return TopicNotFound(topic_not_found_message(topic, self._topic_names()))
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

    # -- topic metadata -----------------------------------------------------------------

    def topics(self) -> list[TopicInfo]:
        """Every topic but the internal ones, sorted by name."""
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
        """One topic; InvalidTopicName or TopicNotFound (listing the topics there are)."""
        validate_topic_name(name)
        md = self.metadata()
        t = md.topics.get(name)
        if t is None or t.error is not None:
            names = sorted(n for n, m in md.topics.items() if m.error is None and n[:2] != "__")
            raise TopicNotFound(topic_not_found_message(name, names))
        return TopicInfo(name, len(t.partitions))

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
        """The topic's max.message.bytes, or None when the configs cannot be read."""
        try:
            limit = self.topic_configs(name)[0].get("max.message.bytes")
        except KcliError:  # not allowed to read configs: the broker still checks
            return None
        return limit if isinstance(limit, int) else None

    def list_offsets(self, topic: str, partitions: Iterable[int], spec) -> dict[int, int]:
        """{partition: offset} for an OffsetSpec (earliest, latest or a timestamp; -1 when no
        record is that late)."""
        wanted = {self.ck.TopicPartition(topic, p): spec for p in partitions}
        if not wanted:
            return {}
        futures = self.admin.list_offsets(wanted, request_timeout=self.timeout_s)
        got = self.wait(futures, f"reading the offsets of topic '{topic}'", topic=topic)
        return {tp.partition: result.offset for tp, result in got.items()}


    def partition_offsets(
        self, topic: str, partitions: Iterable[int], timeout_s: float
    ) -> tuple[dict[int, int | None], dict[int, int | None]]:
        """Each partition's earliest and latest offset, both asked at once; None where the
        leader did not answer within ``timeout_s`` (a broker just killed stays the leader
        until the controller fences it, so a describe does not wait for that)."""
        spec = self.ck.admin.OffsetSpec
        tps = [self.ck.TopicPartition(topic, p) for p in partitions]
        futures = {}
        for which, offset_spec in ((0, spec.earliest()), (1, spec.latest())):
            asked = self.admin.list_offsets(
                {tp: offset_spec for tp in tps}, request_timeout=timeout_s
            )
            futures.update({(which, tp.partition): f for tp, f in asked.items()})
        deadline = time.monotonic() + timeout_s + 1
        pending = set(futures.values())
        while pending and time.monotonic() < deadline:
            _done, pending = concurrent.futures.wait(pending, timeout=0.1)
            self.admin.poll(0)
        found: tuple[dict[int, int | None], dict[int, int | None]] = ({}, {})
        for (which, partition), future in futures.items():
            ok = future.done() and future.exception() is None and future.result().offset >= 0
            found[which][partition] = future.result().offset if ok else None
        return found


def _typed(value: str | None):
    """A config value as the local store gives it: numbers as int."""
    if value is not None and _INTEGER.fullmatch(value):
        return int(value)
    return value
