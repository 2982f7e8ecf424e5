"""Producer: write records to the store with confluent-kafka's methods and config keys.

``produce()`` only queues a record in a per-partition buffer, as a real client does; the
buffer is appended to the partition's log (one write, one fsync) when it is full
(``batch.num.messages`` records or ``batch.size`` bytes), when it has waited ``linger.ms``
and ``poll()`` is called, or at ``flush()``.  Delivery reports (``on_delivery(err, msg)``)
are served from ``poll()`` and ``flush()`` once the records are durable on disk: a
report without an error means the record survives a crash, like ``acks=all`` on a cluster.
``acks`` is accepted with Kafka's values (0, 1, all/-1) and changes nothing: the store has no
replicas, and every append is fsynced before its report whatever ``acks`` says.
``compression.type`` (none, gzip, snappy, lz4, zstd) compresses each batch as it is written.

Which partition a record goes to
--------------------------------
* ``partition=`` given: that one.
* A key: ``murmur2(key) % partitions``, the partition Kafka's Java producer picks (and
  confluent-kafka's with ``partitioner=murmur2_random``; librdkafka's own default,
  ``consistent_random``, hashes with CRC32 instead).
* No key: one partition after the other, record by record (``storage.RoundRobin``).  Kafka's
  producers instead fill one partition per batch before moving on (the sticky partitioner,
  KIP-480/KIP-794), which is faster on a network; kcli chooses per-record round-robin so a
  learner sees a handful of unkeyed records spread over the partitions at once.
"""

from __future__ import annotations

import time
from collections import deque
from itertools import repeat

from kcli.client.config import as_int, check_keys, data_dir_of
from kcli.client.error_codes import kafka_error_code
from kcli.client.produce_checks import (
    as_bytes,
    check_record,
    headers_size,
    normalize_headers,
    prepared_record,
    size_limit,
)
from kcli.client.types import (
    OFFSET_INVALID,
    TIMESTAMP_CREATE_TIME,
    TIMESTAMP_LOG_APPEND_TIME,
    KafkaError,
    KafkaException,
    Message,
)
from storage import RoundRobin, Store
from storage.compression import CODECS
from storage.errors import StorageError
from storage.log import DEFAULT_BATCH_RECORDS, encode_batches
from storage.partitioner import partition_for_key
from storage.records import ProducerRecord, compress_batch

PRODUCER_KEYS = frozenset(
    {
        "data.dir",
        "client.id",
        "linger.ms",
        "queue.buffering.max.ms",
        "batch.num.messages",
        "batch.size",
        "queue.buffering.max.messages",
        "on_delivery",
        "delivery.report.only.error",
        "acks",
        "compression.type",
        "compression.codec",
    }
)
# Kafka's acks values (its default first).
ACKS_VALUES = ("all", "-1", "0", "1")

# librdkafka's defaults.
DEFAULT_LINGER_MS = 5
DEFAULT_BATCH_NUM_MESSAGES = 10_000
DEFAULT_BATCH_SIZE = 1_000_000
DEFAULT_QUEUE_MAX_MESSAGES = 100_000


class _Buffer:
    """Records queued for one partition, in produce order."""

    __slots__ = ("topic", "partition", "records", "callbacks", "nbytes", "since")

    def __init__(self, topic: str, partition: int):
        self.topic = topic
        self.partition = partition
        self.records: list = []
        self.callbacks: list = []  # parallel to records; None where nobody wants a report
        self.nbytes = 0
        self.since = 0.0  # monotonic time of the oldest queued record


class Producer:
    """A Kafka producer over a kcli store (confluent-kafka's ``Producer``).

    >>> p = Producer({"data.dir": "/tmp/kcli-demo"})
    >>> p.produce("tweets", value="hello", key="alice")
    >>> p.flush()
    0
    """

    def __init__(self, conf: dict | None = None, **kwargs):
        conf = dict(conf or {})
        conf.update(kwargs)
        check_keys(conf, PRODUCER_KEYS, "producer")
        self._conf = conf
        self._data_dir = data_dir_of(conf)
        self._client_id = str(conf.get("client.id", "kcli"))
        linger = conf.get("linger.ms", conf.get("queue.buffering.max.ms", DEFAULT_LINGER_MS))
        self._linger_s = as_int({"linger.ms": linger}, "linger.ms", DEFAULT_LINGER_MS) / 1000
        self._batch_num = as_int(conf, "batch.num.messages", DEFAULT_BATCH_NUM_MESSAGES, 1)
        self._batch_size = as_int(conf, "batch.size", DEFAULT_BATCH_SIZE, 1)
        self._queue_max = as_int(
            conf, "queue.buffering.max.messages", DEFAULT_QUEUE_MAX_MESSAGES, 1
        )
        self._default_cb = conf.get("on_delivery")
        if self._default_cb is not None and not callable(self._default_cb):
            raise KafkaException(
                KafkaError(KafkaError._INVALID_ARG, "on_delivery must be a callable(err, msg)")
            )
        acks = str(conf.get("acks", "all")).lower()
        if acks not in ACKS_VALUES:
            raise KafkaException(
                KafkaError(
                    KafkaError._INVALID_ARG,
                    f"invalid acks {conf['acks']!r}: use 0, 1 or all (-1)",
                )
            )
        codec = str(conf.get("compression.type", conf.get("compression.codec", "none"))).lower()
        if codec not in CODECS:
            raise KafkaException(
                KafkaError(
                    KafkaError._INVALID_ARG,
                    f"invalid compression.type {codec!r}: use one of {', '.join(CODECS)}",
                )
            )
        self._codec = CODECS[codec]
        only_error = str(conf.get("delivery.report.only.error", "false")).lower()
        self._only_errors = only_error in ("true", "1")
        self._store = Store(self._data_dir)
        self._round_robin = RoundRobin()
        # topic -> (partition count, max.message.bytes, uses LogAppendTime)
        self._meta: dict[str, tuple[int, int, bool]] = {}
        self._buffers: dict[tuple[str, int], _Buffer] = {}
        self._queued = 0  # records in buffers
        self._reports: deque = deque()  # (callback, err, msg) ready to be served
        self._closed = False

    # -- producing ----------------------------------------------------------------------------

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
        """Queue one record.  ``str`` values and keys are encoded as UTF-8.

        Raises KafkaException at once for an unknown topic or partition or a record larger
        than the topic's max.message.bytes, and BufferError when
        ``queue.buffering.max.messages`` records are waiting (call poll() or flush()).
        """
        if self._closed:
            raise RuntimeError("Producer has been closed")
        partitions, max_bytes, _ = self._meta.get(topic) or self._load_meta(topic)
        record = prepared_record(
            value, key, partition, headers, partitions, self._round_robin, partition_for_key
        )
        check_record(topic, partitions, max_bytes, record, timestamp)
        self._require_room()
        # CreateTime "now" is taken when the buffer is written, at most linger.ms later:
        # records of one batch then share a timestamp, which keeps batches small.
        self._queue(topic, record, timestamp or None, on_delivery or callback or self._default_cb)

    def produce_batch(self, topic: str, messages: list, partition: int = -1, on_delivery=None):
        """Queue many records at once; returns how many were queued.

        Each message is a dict with optional ``value``, ``key``, ``partition``, ``timestamp``,
        ``headers`` and ``callback``, as in confluent-kafka (which, unlike kcli, ignores
        headers here).  A message that cannot be queued gets an ``_error`` entry (a KafkaError)
        and the others are still queued.  Much cheaper per record than produce().
        """
        if self._closed:
            raise RuntimeError("Producer has been closed")
        if not isinstance(messages, list):
            raise TypeError("messages must be a list of dicts")
        partitions, max_bytes, _ = self._meta.get(topic) or self._load_meta(topic)
        self._require_room()
        default_cb = on_delivery or self._default_cb
        round_robin = self._round_robin
        total = 0
        for m in messages:
            try:
                record = prepared_record(
                    m.get("value"),
                    m.get("key"),
                    m.get("partition", partition),
                    m.get("headers"),
                    partitions,
                    round_robin,
                    partition_for_key,
                )
                timestamp = m.get("timestamp") or None
                check_record(topic, partitions, max_bytes, record, timestamp)
            except KafkaException as exc:
                m["_error"] = exc.args[0]
                continue
            self._queue(
                topic, record, timestamp, m.get("callback") or m.get("on_delivery") or default_cb
            )
            total += 1
        return total

    # -- kcli-only bulk path (not in confluent-kafka) -------------------------------------------

    def produce_many(
        self,
        topic: str,
        values: list,
        key=None,
        partition: int = -1,
        headers=None,
        on_delivery=None,
    ) -> int:
        """kcli-only: queue one record per item of ``values``, all with the same ``key`` and
        ``headers``; what ``kcli produce`` uses for stdin lines.

        Same result as calling produce() for each value in turn, at a fraction of the cost
        per record.  Raises KafkaException at the first value that cannot be queued; its
        ``queued`` attribute tells how many values before it were queued (none after it is).
        Returns len(values).
        """
        if self._closed:
            raise RuntimeError("Producer has been closed")
        partitions, max_bytes, _ = self._meta.get(topic) or self._load_meta(topic)
        if key is not None and key.__class__ is not bytes:
            key = as_bytes(key, "key")
        if key is not None and partition < 0:
            partition = partition_for_key(key, partitions)
        headers = normalize_headers(headers) if headers else ()
        extra = headers_size(headers)
        extra += 0 if key is None else len(key)
        limit = size_limit(max_bytes) - extra
        simple = (
            partition < partitions
            and self._queued < self._queue_max - len(self._reports) - len(values)
            and (not values or set(map(type, values)) == {bytes})
            and (not values or max(map(len, values)) <= limit)
        )
        if not simple:
            for i, value in enumerate(values):
                try:
                    self.produce(topic, value, key, partition, on_delivery, 0, headers)
                except KafkaException as exc:
                    exc.queued = i
                    raise
            return len(values)
        cb = on_delivery or self._default_cb
        n = len(values)
        if partition >= 0 or partitions == 1:
            groups = [(max(partition, 0), values)]
        elif n:
            start = self._round_robin.partition(partitions)
            for _ in range((n - 1) % partitions):
                self._round_robin.partition(partitions)  # leave it where n calls would
            groups = [
                ((start + j) % partitions, values[j::partitions]) for j in range(n)[:partitions]
            ]
        else:
            groups = []
        new = tuple.__new__
        record_type = ProducerRecord
        step = self._batch_num
        for p, group in groups:
            buf = self._buffers.get((topic, p))
            if buf is None:
                buf = self._buffers[(topic, p)] = _Buffer(topic, p)
            for lo in range(0, len(group), step):
                chunk = group[lo : lo + step]
                if not buf.records:
                    buf.since = time.monotonic()
                if key is None and not headers:
                    buf.records.extend(chunk)  # bare values: the encoder's fast path
                else:
                    buf.records.extend(
                        map(
                            new,
                            repeat(record_type),
                            zip(chunk, repeat(key), repeat(headers), repeat(None)),
                        )
                    )
                buf.callbacks.extend([cb] * len(chunk))
                buf.nbytes += sum(map(len, chunk)) + extra * len(chunk)
                self._queued += len(chunk)
                if len(buf.records) >= self._batch_num or buf.nbytes >= self._batch_size:
                    self._write(buf)
        return n

    def _require_room(self) -> None:
        """BufferError once ``queue.buffering.max.messages`` records are waiting."""
        if self._queued >= self._queue_max - len(self._reports):
            raise BufferError(
                f"Local: Queue full ({self._queue_max} records waiting; "
                f"call poll() or flush() to deliver them)"
            )

    def _queue(self, topic: str, record, timestamp: int | None, callback) -> None:
        """Add a checked ``prepared_record`` to its partition's buffer; write the buffer once it
        is full."""
        value, key, partition, headers, size = record
        buf = self._buffers.get((topic, partition))
        if buf is None:
            buf = self._buffers[(topic, partition)] = _Buffer(topic, partition)
        records = buf.records
        if not records:
            buf.since = time.monotonic()
        if key is None and timestamp is None and not headers and value.__class__ is bytes:
            records.append(value)  # a bare value: the encoder's fast path
        else:
            records.append(tuple.__new__(ProducerRecord, (value, key, headers, timestamp)))
        buf.callbacks.append(callback)
        buf.nbytes += size
        self._queued += 1
        if len(records) >= self._batch_num or buf.nbytes >= self._batch_size:
            self._write(buf)

    def _load_meta(self, topic: str) -> tuple[int, int, bool]:
        try:
            meta = self._store.topic(topic)
            config = meta.config
        except StorageError as exc:
            raise KafkaException(KafkaError(_error_code(exc), str(exc))) from None
        entry = (
            meta.partitions,
            config.max_message_bytes,
            config.message_timestamp_type == "LogAppendTime",
        )
        self._meta[topic] = entry
        return entry

    # -- writing and delivery reports ---------------------------------------------------------

    def _write(self, buf: _Buffer) -> None:
        """Append one partition's buffer with one fsync; queue its delivery reports."""
        records, callbacks = buf.records, buf.callbacks
        buf.records, buf.callbacks, buf.nbytes = [], [], 0
        self._queued -= len(records)
        now = time.time_ns() // 1_000_000
        try:
            log = self._store.log(buf.topic, buf.partition)
            config = log.config
            batches = encode_batches(records, now, config.max_message_bytes, DEFAULT_BATCH_RECORDS)
            if self._codec:
                batches = [compress_batch(b, self._codec) for b in batches]
            info = log.append(batches)
        except StorageError as exc:
            err = KafkaError(_error_code(exc), str(exc))
            self._report_all(buf, records, callbacks, err, None, now)
        except OSError as exc:
            err = KafkaError(KafkaError._FATAL, f"{exc.strerror or exc}: {exc.filename or ''}")
            self._report_all(buf, records, callbacks, err, None, now)
        else:
            if not self._only_errors:
                self._report_all(buf, records, callbacks, None, info, now)

    def _report_all(self, buf: _Buffer, records, callbacks, err, info, now: int) -> None:
        reports = self._reports
        topic, partition = buf.topic, buf.partition
        if info is None:
            base, ts_type, append_time = OFFSET_INVALID, TIMESTAMP_CREATE_TIME, -1
        else:
            base = info.base_offset
            append_time = info.log_append_time
            ts_type = TIMESTAMP_LOG_APPEND_TIME if append_time >= 0 else TIMESTAMP_CREATE_TIME
        new = tuple.__new__
        for i, cb in enumerate(callbacks):
            if cb is None:
                continue
            record = records[i]
            if record.__class__ is bytes:
                value, key, headers, ts = record, None, (), None
            else:
                value, key, headers, ts = record
            offset = base if info is None else base + i
            msg = new(
                Message,
                (
                    topic,
                    partition,
                    offset,
                    ts_type,
                    append_time if append_time >= 0 else (now if ts is None else ts),
                    key,
                    value,
                    headers or None,
                    err,
                ),
            )
            reports.append((cb, err, msg))

    def _serve(self, limit: int | None = None) -> int:
        served = 0
        reports = self._reports
        while reports and (limit is None or served < limit):
            cb, err, msg = reports.popleft()
            cb(err, msg)
            served += 1
        return served

    def _write_due(self, now: float, force: bool) -> float | None:
        """Write buffers that are due; return when the next one will be (monotonic)."""
        next_due = None
        for buf in list(self._buffers.values()):
            if not buf.records:
                continue
            due = buf.since + self._linger_s
            if force or due <= now:
                self._write(buf)
            elif next_due is None or due < next_due:
                next_due = due
        return next_due

    def poll(self, timeout: float | None = None) -> int:
        """Write buffers that have waited linger.ms, then serve delivery reports.

        Returns the number of reports served.  Waits up to ``timeout`` seconds (None or a
        negative number: as long as records are still queued) for at least one report.
        """
        if timeout is not None and timeout < 0:
            timeout = None
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            now = time.monotonic()
            next_due = self._write_due(now, force=False)
            served = self._serve()
            if served or next_due is None:
                return served
            if deadline is not None and now >= deadline:
                return 0
            wait = next_due - now if deadline is None else min(next_due, deadline) - now
            time.sleep(max(wait, 0.0))

    def flush(self, timeout: float | None = None) -> int:
        """Write every queued record (one fsync per partition), serve every delivery report;
        return the number of records still waiting (0: all delivered or failed)."""
        self._write_due(time.monotonic(), force=True)
        self._serve()
        self._meta.clear()  # pick up partitions added meanwhile, as a metadata refresh does
        return len(self)

    def purge(self, in_queue: bool = True, in_flight: bool = True, blocking: bool = True) -> None:
        """Drop queued records; their delivery reports (error _PURGE_QUEUE) come from the next
        poll() or flush().  Nothing is ever in flight: appends are synchronous."""
        if not in_queue:
            return
        err = KafkaError(KafkaError._PURGE_QUEUE, "Local: Purged in queue")
        for buf in self._buffers.values():
            records, callbacks = buf.records, buf.callbacks
            buf.records, buf.callbacks, buf.nbytes = [], [], 0
            self._queued -= len(records)
            self._report_all(buf, records, callbacks, err, None, -1)

    def __len__(self) -> int:
        """Records queued or waiting for their delivery report to be served."""
        return self._queued + len(self._reports)

    def __bool__(self) -> bool:
        return True  # a Producer with nothing queued is still a Producer

    def list_topics(self, topic: str | None = None, timeout: float = -1):
        """Cluster metadata (topics and partitions), as AdminClient.list_topics returns it."""
        # Imported here: the admin client brings the group store, which producing never needs.
        from kcli.local.admin_client import AdminClient

        return AdminClient({"data.dir": str(self._data_dir)}).list_topics(topic, timeout)

    def close(self, timeout: float | None = None) -> None:
        """Flush what is queued, then release the store."""
        if self._closed:
            return
        try:
            self.flush(timeout)
        finally:
            self._closed = True
            self._store.close()


def _error_code(exc: StorageError) -> int:
    return kafka_error_code(exc, default=KafkaError._FATAL)
