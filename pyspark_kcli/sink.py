"""Writing Spark rows to kcli topics: ``df.write`` and ``df.writeStream`` with format("kcli").

Exactly once, the way Kafka's idempotent producer is: every RecordBatch the sink appends
carries a producer id, producer epoch and base sequence derived from *which piece of which
micro-batch it is*:

* producer id — a hash of (the query's id, the Spark task's partition number, a sub-unit
  number); the query id is stored in the checkpoint, so it is the same after a restart;
* producer epoch — the micro-batch id (batchId), so each micro-batch is a new epoch of the
  same producer and a task left over from an older micro-batch is fenced;
* base sequence — the position of the batch's first record among the records this task sends
  to that partition in this micro-batch, counting from 0.

When Spark replays a micro-batch (after a crash, or because its commit file was removed), the
replayed tasks produce the same (producer id, epoch, sequence range) for the same records, and
the log, which checks them under the partition lock as part of the append, skips what it
already holds.  The identity travels inside the appended batch itself, so there is no window
between "appended" and "remembered" for a crash to fall into.  A task that died half-way
through leaves a prefix of its batches; the replay skips that prefix and appends the rest.

Kafka remembers the last 5 batches per producer and partition (a producer has at most 5
requests in flight), and kcli's log does the same, so a task writes at most 5 batches per
producer id and partition and takes a new sub-unit (a new producer id) for the next 5.

This relies on a replayed micro-batch sending the same rows from each task to each
partition — true for a query that maps or filters what it reads from kcli (the source replays
the exact offsets recorded in its checkpoint) and for aggregations, which Spark recomputes from
the same state.  The log judges a replay by producer ids and sequence numbers, not by the
bytes: a replay that sends other rows is not made exactly-once by this, but in most such cases
the log refuses batches whose sequence does not follow (OutOfOrderSequence) and the query stops.
"""

from __future__ import annotations

import hashlib
import uuid
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import accumulate, repeat

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql.datasource import (
    DataSourceArrowWriter,
    DataSourceStreamArrowWriter,
    WriterCommitMessage,
)
from pyspark.sql.types import BinaryType, IntegerType, StringType, StructType

from pyspark_kcli.options import SinkOptions, SparkOptionError
from pyspark_kcli.partitioning import partitions_for_keys
from pyspark_kcli.source import HEADERS_TYPE
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
        self.pending: dict[tuple[str, int], _Bucket] = {}
        self.partition_counts: dict[str, int] = {}
        # Unkeyed rows without a partition go round-robin, starting at the task's number, so a
        # replayed task sends every row where the first attempt did.
        self.unkeyed = task

    def partitions_of(self, topic: str) -> int:
        n = self.partition_counts.get(topic)
        if n is None:
            n = self.partition_counts[topic] = self.store.topic(topic).partitions
        return n

    def bucket(self, topic: str, partition: int) -> _Bucket:
        bucket = self.pending.get((topic, partition))
        if bucket is None:
            self.store.log(topic, partition)  # PartitionNotFound before anything is written
            bucket = self.pending[(topic, partition)] = _Bucket()
        return bucket

    def add_arrow(self, batch) -> None:
        """Route an Arrow batch of rows; nothing is written before ``flush``."""
        if not batch.num_rows:
            return
        if self.options.topic is not None:
            self.add_to_topic(self.options.topic, batch)
            return
        topics = batch.column("topic")
        if topics.null_count:
            raise SparkOptionError(
                'a row has a null topic; set the option "topic" or fill the topic column'
            )
        for topic in pc.unique(topics).to_pylist():
            self.add_to_topic(topic, batch.filter(pc.equal(topics, topic)))

    def add_to_topic(self, topic: str, batch) -> None:
        """Rows for one topic: partition column, else murmur2 of the key, else round-robin."""
        names = batch.schema.names
        n = batch.num_rows
        count = self.partitions_of(topic)
        if "partition" in names:
            parts = pc.cast(batch.column("partition"), pa.int64())
        else:
            parts = pa.nulls(n, pa.int64())
        keys = _binary(batch.column("key")) if "key" in names else None
        if keys is not None and keys.null_count < n and parts.null_count:
            parts = pc.coalesce(parts, partitions_for_keys(keys, count))
        if parts.null_count:
            # Round-robin over the rows still without a partition, in row order.
            unplaced = pc.is_null(parts)
            rank = pc.add(
                pc.cumulative_sum(pc.cast(unplaced, pa.int64())),
                pa.scalar(self.unkeyed - 1, pa.int64()),
            )
            size = pa.scalar(count, pa.int64())
            parts = pc.coalesce(parts, pc.subtract(rank, pc.multiply(pc.divide(rank, size), size)))
            self.unkeyed += pc.sum(pc.cast(unplaced, pa.int64())).as_py()
        values = _binary(batch.column("value"))
        # About what each record takes in a RecordBatch, to cut batches near max.message.bytes.
        sizes = pc.add(pc.fill_null(pc.binary_length(values), 0), pa.scalar(24, pa.int32()))
        if keys is not None:
            sizes = pc.add(sizes, pc.fill_null(pc.binary_length(keys), 0))
        headers = batch.column("headers") if "headers" in names else None
        for partition in sorted(pc.unique(parts).to_pylist()):
            rows = pc.indices_nonzero(pc.equal(parts, pa.scalar(partition, pa.int64())))
            bucket = self.bucket(topic, partition)
            row_values = pc.take(values, rows).to_pylist()
            row_keys = pc.take(keys, rows).to_pylist() if keys is not None else None
            row_sizes = pc.take(sizes, rows).to_pylist()
            if headers is not None:
                row_headers = [
                    tuple((h["key"], h["value"]) for h in hs) if hs else ()
                    for hs in pc.take(headers, rows).to_pylist()
                ]
                row_sizes = [
                    size + sum(len(k) + len(v or b"") + 10 for k, v in hs)
                    for size, hs in zip(row_sizes, row_headers, strict=True)
                ]
            else:
                row_headers = [()] * len(row_values)
            # ProducerRecords built in C: tuple.__new__ skips NamedTuple's Python constructor.
            bucket.records.extend(
                map(
                    tuple.__new__,
                    repeat(ProducerRecord),
                    zip(row_values, row_keys or repeat(None), row_headers, repeat(None)),
                )
            )
            bucket.sizes.extend(row_sizes)

    def flush(self) -> KcliCommitMessage:
        """Append every routed row, in RecordBatches stamped with this piece's identity."""
        message = KcliCommitMessage(task=self.task)
        try:
            for (topic, partition), bucket in sorted(self.pending.items()):
                if bucket.records:
                    self._append(topic, partition, bucket, message)
        finally:
            self.pending.clear()
            self.store.close()
        return message

    def _append(self, topic: str, partition: int, bucket: _Bucket, message) -> None:
        log_ = self.store.log(topic, partition)
        ranges = split_batches(bucket.sizes, log_.config.max_message_bytes)
        now = self.store.clock.now_ms()
        name = f"{topic}-{partition}"
        for i, (start, end) in enumerate(ranges):
            sub_unit = i // BATCHES_PER_PRODUCER_ID
            pid = producer_id(self.query_id, self.task, self.generation, sub_unit)
            # Sequences count from 0 for each producer id (and each epoch).
            first = ranges[sub_unit * BATCHES_PER_PRODUCER_ID][0]
            batch = encode_batch(
                bucket.records[start:end],
                timestamp=now,
                producer_id=pid,
                producer_epoch=self.epoch,
                base_sequence=start - first,
            )
            if log_.append(batch).duplicate:
                message.duplicates += end - start
            else:
                message.appended[name] = message.appended.get(name, 0) + end - start


class _Bucket:
    """The rows one task sends to one partition, with a rough size for each."""

    __slots__ = ("records", "sizes")

    def __init__(self):
        self.records: list = []
        self.sizes: list[int] = []


def split_batches(sizes: list[int], max_bytes: int) -> list[tuple[int, int]]:
    """Row ranges [start, end) of at most about ``max_bytes`` (and RECORDS_PER_BATCH rows)."""
    budget = max(1024, max_bytes - 1024)  # room for the batch header and varint slack
    before = list(accumulate(sizes, initial=0))  # before[i]: bytes of rows 0..i-1
    out = []
    start = 0
    n = len(sizes)
    while start < n:
        end = bisect_right(before, before[start] + budget) - 1
        end = max(start + 1, min(end, start + RECORDS_PER_BATCH, n))
        out.append((start, end))
        start = end
    return out


def _binary(column):
    """A string or binary column as binary (UTF-8 bytes for strings; no copy)."""
    return column if column.type == pa.binary() else pc.cast(column, pa.binary())


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
