"""The producer adapter: kcli's Producer API over confluent-kafka's Producer.

Keyed records go where Kafka's Java producer and the local store put them
(``partitioner=murmur2_random``); records without a key get kcli's per-record round-robin
(storage.RoundRobin), chosen here and passed as an explicit partition.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from kcli.client.error_codes import kafka_error_code
from kcli.client.produce_checks import check_record, prepared_record
from kcli.client.types import KafkaError, KafkaException, Message
from kcli.remote.cluster_client import ClusterClient
from kcli.remote.librdkafka import check_reports, kafka_error, kafka_exception
from storage import RoundRobin, StorageError

# kcli's choices for its clients (a --command-config or profile may still change them).
PRODUCER_DEFAULTS = {
    # Keys land where Kafka's Java producer (and the local store) put them.
    "partitioner": "murmur2_random",
    "allow.auto.create.topics": False,
    # librdkafka retries a failed produce request until message.timeout.ms (5 minutes); a
    # command should say within seconds why the cluster refuses (NOT_ENOUGH_REPLICAS while
    # brokers are down), so kcli retries 5 times, about 2.5 s with retry.backoff.ms's backoff.
    "retries": 5,
}


class RemoteProducer:
    """kcli's Producer API over confluent-kafka's Producer, for ``kcli produce`` and ``perf``.

    Checks what the local producer checks before queueing (kcli.client.produce_checks:
    unknown topic or partition, a record over the topic's max.message.bytes, a bad
    timestamp) and raises the same KafkaException; delivery reports carry kcli Messages and
    KafkaErrors.
    """

    def __init__(self, cluster: ClusterClient, conf: Mapping[str, Any] | None = None):
        conf = dict(conf or {})
        self._cluster = cluster
        self._default_cb = conf.pop("on_delivery", None)
        self._p = cluster.new_client("producer", conf, PRODUCER_DEFAULTS)
        self._round_robin = RoundRobin()
        self._meta: dict[str, tuple[int, int | None]] = {}
        self._last_cb = self._last_wrapped = None
        self._closed = False

    def _load_meta(self, topic: str) -> tuple[int, int | None]:
        try:
            partitions = self._cluster.topic(topic).partitions
        except StorageError as exc:
            code = kafka_error_code(exc, default=KafkaError.UNKNOWN_TOPIC_OR_PART)
            raise KafkaException(KafkaError(code, str(exc))) from None
        meta = (partitions, self._cluster.max_message_bytes(topic))
        self._meta[topic] = meta
        return meta

    def _callback(self, cb):
        """A confluent-kafka delivery callback calling ``cb(err, msg)`` with kcli types."""
        if cb is None:
            return None
        if cb is self._last_cb:  # the usual case: one callback for every record
            return self._last_wrapped
        connection = self._cluster.connection

        def report(err, msg):
            kerr = None if err is None else kafka_error(connection, err)
            ts_type, ts = msg.timestamp()
            offset = msg.offset()
            cb(
                kerr,
                Message(
                    msg.topic(),
                    msg.partition(),
                    # acks=0: no answer, no offset (-1, as in Kafka's RecordMetadata)
                    -1 if offset is None else offset,
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
        if self._closed:
            raise RuntimeError("Producer has been closed")
        partitions, max_bytes = self._meta.get(topic) or self._load_meta(topic)
        # A keyed record's partition stays -1: librdkafka's murmur2_random picks it, as Kafka's
        # Java producer would.
        record = prepared_record(value, key, partition, headers, partitions, self._round_robin)
        check_record(topic, partitions, max_bytes, record, timestamp)
        value, key, partition, headers, _size = record
        cb = self._callback(on_delivery or callback or self._default_cb)
        try:
            self._p.produce(
                topic,
                value,
                key,
                partition,
                on_delivery=cb,
                timestamp=timestamp or 0,
                headers=list(headers) if headers else None,
            )
        except self._cluster.ck.KafkaException as exc:
            raise kafka_exception(self._cluster.connection, exc) from None

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
        except self._cluster.ck.KafkaException as exc:
            raise kafka_exception(self._cluster.connection, exc) from None
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
        check_reports(self._cluster.errors)

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
