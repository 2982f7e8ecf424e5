"""Writing Spark rows to kcli topics: ``df.write`` and ``df.writeStream`` with format("kcli").

Exactly once, the way Kafka's idempotent producer is: every RecordBatch the sink appends
carries a producer id, producer epoch and base sequence derived from *which piece of which
micro-batch it is*:

* producer id  — a hash of (the query's id, the Spark task's partition, a sub-unit number);
  the query id is stored in the checkpoint, so it is the same after a restart;
* producer epoch — the micro-batch id (batchId), so each micro-batch is a new epoch of the
  same producer and a task left over from an older micro-batch is fenced;
* base sequence — the position of the batch's first record among that piece's records for
  that partition, counting from 0.

When Spark replays a micro-batch (after a crash, or because its commit file was removed), the
replayed tasks produce the same (producer id, epoch, sequence range) for the same records, and
the log, which checks them under the partition lock as part of the append, skips what it
already holds.  The identity travels inside the appended batch itself, so there is no window
between "appended" and "remembered" for a crash to fall into.

Kafka remembers the last 5 batches per producer (``max.in.flight.requests.per.connection``), so
a task writes at most 5 batches per (producer id, partition) and takes a new sub-unit (a new
producer id) for the next 5.

This relies on a replayed micro-batch producing the same rows, in the same order, in the same
tasks — true for a query that maps or filters what it reads from kcli (the source replays the
exact offsets recorded in the checkpoint), and for aggregations whose output Spark recomputes
from the same state.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from pyspark.sql.datasource import (
    DataSourceArrowWriter,
    DataSourceStreamArrowWriter,
    WriterCommitMessage,
)
from pyspark.sql.types import BinaryType, IntegerType, StringType, StructType

from pyspark_kcli.options import SinkOptions, SparkOptionError
from pyspark_kcli.source import HEADERS_TYPE
from storage.partitioner import partition_for_key
from storage.records import ProducerRecord, encode_batch

# Kafka's producer epoch is an int16 and a sequence an int32.  After 32767 micro-batches the
# epoch would overflow, so the producer id moves on to a new "generation" instead.
EPOCHS_PER_PRODUCER_ID = 32767
# What Kafka's broker remembers per producer and partition (ProducerStateManager's
# NUM_BATCHES_TO_RETAIN): a replay is recognised only among a producer's last 5 batches.
BATCHES_PER_PRODUCER_ID = 5
RECORDS_PER_BATCH = 10_000
# Task-local properties Spark's micro-batch engine sets on every task of a micro-batch.
QUERY_ID_PROPERTY = "sql.streaming.queryId"
BATCH_ID_PROPERTY = "streaming.sql.batchId"


def check_sink_schema(options: SinkOptions, schema: StructType) -> None:
    """The columns Spark's Kafka sink takes: value; optional key, topic, partition, headers."""
    fields = {f.name: f.dataType for f in schema.fields}
    text = (StringType(), BinaryType())
    problems = []
    if "value" not in fields:
        problems.append("a value column (string or binary) is required")
    elif fields["value"] not in text:
        problems.append(f"value must be string or binary, not {fields['value'].simpleString()}")
    if "key" in fields and fields["key"] not in text:
        problems.append(f"key must be string or binary, not {fields['key'].simpleString()}")
    if "topic" in fields and fields["topic"] != StringType():
        problems.append(f"topic must be a string, not {fields['topic'].simpleString()}")
    if "partition" in fields and fields["partition"] != IntegerType():
        problems.append(f"partition must be an int, not {fields['partition'].simpleString()}")
    # Compared by name: nullability (containsNull, nullable) does not matter here.
    if "headers" in fields and fields["headers"].simpleString() != HEADERS_TYPE.simpleString():
        problems.append(
            f"headers must be {HEADERS_TYPE.simpleString()}, not {fields['headers'].simpleString()}"
        )
    if options.topic is None and "topic" not in fields:
        problems.append('set the option "topic" or add a topic column')
    if problems:
        raise SparkOptionError("cannot write to format kcli: " + "; ".join(problems))
    if options.topic is not None:
        from storage import Store

        Store(options.data_dir, create=False).topic(options.topic)  # TopicNotFound, early


def producer_id(query_id: str, task: int, generation: int, sub_unit: int) -> int:
    """A stable, non-negative int64 producer id for one piece of a query's output."""
    name = f"pyspark_kcli/{query_id}/{task}/{generation}/{sub_unit}".encode()
    return int.from_bytes(hashlib.blake2b(name, digest_size=8).digest(), "big") & (2**63 - 1)


@dataclass
class KcliCommitMessage(WriterCommitMessage):
    """What one task appended: records per topic-partition, and how many were already there."""

    task: int
    appended: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0

    @property
    def records(self) -> int:
        return sum(self.appended.values())


class _TaskWriter:
    """Routes one task's rows to partitions and appends them with their producer identity."""

    def __init__(self, options: SinkOptions, query_id: str, batch_id: int, task: int):
        from storage import Store

        self.options = options
        self.store = Store(options.data_dir, create=False)
        self.query_id = query_id
        self.task = task
        self.epoch = batch_id % EPOCHS_PER_PRODUCER_ID
        self.generation = batch_id // EPOCHS_PER_PRODUCER_ID
        self.pending: dict[tuple[str, int], list] = {}
        self.partition_counts: dict[str, int] = {}
        self.key_cache: dict[str, dict] = {}
        # Unkeyed rows without a partition go round-robin, starting at the task's number, so a
        # replayed task sends every row where the first attempt did.
        self.unkeyed = task

    def partitions_of(self, topic: str) -> int:
        n = self.partition_counts.get(topic)
        if n is None:
            n = self.partition_counts[topic] = self.store.topic(topic).partitions
        return n

    def bucket(self, topic: str, partition: int) -> list:
        bucket = self.pending.get((topic, partition))
        if bucket is None:
            self.store.log(topic, partition)  # PartitionNotFound before anything is written
            bucket = self.pending[(topic, partition)] = []
        return bucket

    def key_partitions(self, topic: str) -> dict:
        """key → partition for ``topic``: keys repeat (stores, customers), murmur2 is Python."""
        cache = self.key_cache.get(topic)
        if cache is None:
            cache = self.key_cache[topic] = {}
        return cache

    def add_arrow(self, batch) -> None:
        names = batch.schema.names
        n = batch.num_rows
        if not n:
            return
        values = _binary_column(batch, "value")
        keys = _binary_column(batch, "key") if "key" in names else [None] * n
        if "headers" in names:
            headers = [
                tuple((h["key"], h["value"]) for h in hs) if hs else ()
                for hs in batch.column("headers").to_pylist()
            ]
        else:
            headers = [()] * n
        explicit = batch.column("partition").to_pylist() if "partition" in names else None
        if self.options.topic is not None and explicit is None:
            self._add_to_topic(self.options.topic, values, keys, headers)
            return
        if self.options.topic is not None:
            topics = [self.options.topic] * n
        else:
            topics = batch.column("topic").to_pylist()
        for value, key, hs, topic, partition in zip(
            values, keys, headers, topics, explicit or [None] * n, strict=True
        ):
            if topic is None:
                raise SparkOptionError(
                    'a row has a null topic; set the option "topic" or fill the topic column'
                )
            if partition is None:
                partition = self.partition_for(topic, key)
            self.bucket(topic, partition).append(_record(value, key, hs))

    def partition_for(self, topic: str, key: bytes | None) -> int:
        """Kafka's murmur2 partition for a key; round-robin for rows without one."""
        count = self.partitions_of(topic)
        if key is None:
            self.unkeyed += 1
            return (self.unkeyed - 1) % count
        cache = self.key_partitions(topic)
        partition = cache.get(key)
        if partition is None:
            partition = cache[key] = partition_for_key(key, count)
        return partition

    def _add_to_topic(self, topic: str, values: list, keys: list, headers: list) -> None:
        """The common case, one topic and no partition column, without per-row lookups."""
        count = self.partitions_of(topic)
        cache = self.key_partitions(topic)
        buckets = [self.bucket(topic, p) for p in range(count)]
        unkeyed = self.unkeyed
        for value, key, hs in zip(values, keys, headers, strict=True):
            if key is None:
                partition = unkeyed % count
                unkeyed += 1
            else:
                partition = cache.get(key)
                if partition is None:
                    partition = cache[key] = partition_for_key(key, count)
            buckets[partition].append(_record(value, key, hs))
        self.unkeyed = unkeyed

    def flush(self) -> KcliCommitMessage:
        message = KcliCommitMessage(task=self.task)
        for (topic, partition), records in sorted(self.pending.items()):
            if not records:
                continue
            log_ = self.store.log(topic, partition)
            batches = encode_with_sequences(
                records, log_.config.max_message_bytes, self.store.clock.now_ms()
            )
            name = f"{topic}-{partition}"
            for i, (group, seq) in enumerate(batches):
                sub_unit = i // BATCHES_PER_PRODUCER_ID
                pid = producer_id(self.query_id, self.task, self.generation, sub_unit)
                # Sequences restart at 0 for each producer id.
                first_seq = batches[sub_unit * BATCHES_PER_PRODUCER_ID][1]
                info = log_.append(_stamp(group, pid, self.epoch, seq - first_seq))
                if getattr(info, "duplicate", False):
                    message.duplicates += group.records
                else:
                    message.appended[name] = message.appended.get(name, 0) + group.records
        self.pending.clear()
        self.store.close()
        return message


def _record(value, key, headers):
    """A ProducerRecord without NamedTuple's Python-level constructor (one per row)."""
    return tuple.__new__(ProducerRecord, (value, key, headers, None))


def _binary_column(batch, name: str) -> list:
    import pyarrow as pa

    column = batch.column(name)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return [None if v is None else v.encode("utf-8") for v in column.to_pylist()]
    return column.to_pylist()


@dataclass(frozen=True)
class _Unstamped:
    """Records of one future RecordBatch, with their timestamp fixed at encoding time."""

    items: list
    timestamp: int

    @property
    def records(self) -> int:
        return len(self.items)


def encode_with_sequences(
    records: list, max_bytes: int, now_ms: int
) -> list[tuple[_Unstamped, int]]:
    """Split records into RecordBatch-sized groups, each with its base sequence (from 0)."""
    out: list[tuple[_Unstamped, int]] = []
    seq = 0
    group: list = []
    size = 0
    budget = max(1024, max_bytes - 1024)
    for record in records:
        value, key, headers, _ts = record
        rough = 24 + len(value or b"") + (len(key) if key else 0)
        if headers:
            rough += sum(len(k) + len(v or b"") + 4 for k, v in headers)
        if group and (size + rough > budget or len(group) >= RECORDS_PER_BATCH):
            out.append((_Unstamped(group, now_ms), seq))
            seq += len(group)
            group, size = [], 0
        group.append(record)
        size += rough
    if group:
        out.append((_Unstamped(group, now_ms), seq))
    return out


def _stamp(unstamped: _Unstamped, pid: int, epoch: int, base_sequence: int) -> bytes:
    return encode_batch(
        unstamped.items,
        timestamp=unstamped.timestamp,
        producer_id=pid,
        producer_epoch=epoch,
        base_sequence=base_sequence,
    )


def _task_identity() -> tuple[str | None, int | None, int]:
    from pyspark import TaskContext

    context = TaskContext.get()
    query_id = context.getLocalProperty(QUERY_ID_PROPERTY)
    batch_id = context.getLocalProperty(BATCH_ID_PROPERTY)
    return query_id, (int(batch_id) if batch_id is not None else None), context.partitionId()


class KcliStreamWriter(DataSourceStreamArrowWriter):
    """``df.writeStream.format("kcli")``: exactly-once appends per (query, micro-batch, task)."""

    def __init__(self, options: SinkOptions):
        self.options = options

    def write(self, iterator: Iterator) -> KcliCommitMessage:
        query_id, batch_id, task = _task_identity()
        if query_id is None or batch_id is None:
            raise SparkOptionError(
                "the kcli stream sink runs inside a micro-batch query; use df.write for batch data"
            )
        writer = _TaskWriter(self.options, query_id, batch_id, task)
        for batch in iterator:
            writer.add_arrow(batch)
        return writer.flush()

    def commit(self, messages: list, batchId: int) -> None:
        """Nothing left to do: each task's append was durable and idempotent on its own."""

    def abort(self, messages: list, batchId: int) -> None:
        """Records already appended stay; the replay of this batch id recognises them."""


class KcliBatchWriter(DataSourceArrowWriter):
    """``df.write.format("kcli")``: appends, idempotent across retries of the same task."""

    def __init__(self, options: SinkOptions):
        self.options = options
        # Made once on the driver and shipped to every task: a retried task reuses it.
        self.job_id = uuid.uuid4().hex

    def write(self, iterator: Iterator) -> KcliCommitMessage:
        _query, _batch, task = _task_identity()
        writer = _TaskWriter(self.options, self.job_id, 0, task)
        for batch in iterator:
            writer.add_arrow(batch)
        return writer.flush()
