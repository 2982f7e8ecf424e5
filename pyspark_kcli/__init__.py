"""kcli topics as a Spark Structured Streaming source and sink: ``format("kcli")``.

Install with ``pip install 'kcli-kafka[spark]'``.  PySpark finds this module by itself (a
top-level ``pyspark_*`` module with a ``DefaultSource``); ``register(spark)`` does it
explicitly, e.g. in a notebook started before the package was installed.

Reading mirrors Spark's Kafka source, so what you learn here transfers::

    df = (spark.readStream.format("kcli")
          .option("subscribe", "orders")              # or assign / subscribePattern
          .option("startingOffsets", "earliest")      # latest (default) | JSON {"orders":{"0":23}}
          .option("maxOffsetsPerTrigger", 10000)
          .load())                                    # .load(DATA_DIR); default: the CLI's

Columns: ``key`` and ``value`` (binary), ``topic``, ``partition``, ``offset``, ``timestamp``,
``timestampType`` and, with ``includeHeaders=true``, ``headers``.  Other options:
``endingOffsets`` (batch reads), ``failOnDataLoss`` (default true: fail when retention deleted
records before the query read them).  Offsets in the checkpoint are Kafka-shaped:
``{"orders": {"0": 3140}}``.

Writing takes a ``value`` column (string or binary) and optional ``key``, ``headers``,
``topic`` (or the ``topic`` option) and ``partition`` (else Kafka's murmur2 partitioner on the
key, round-robin without one)::

    (totals.selectExpr("store AS key", "CAST(total AS STRING) AS value")
       .writeStream.format("kcli").outputMode("complete")  # or append; Python sinks get no update
       .option("topic", "totals")
       .option("checkpointLocation", "/tmp/totals-ckpt").start())

Exactly once, unlike Spark's Kafka sink
---------------------------------------
Spark's own Kafka sink is at-least-once.  When a query dies after a micro-batch's records
reached Kafka but before Spark wrote that batch's commit file, the restarted query runs the
batch again and its tasks produce the records a second time.  Kafka's idempotent producer
cannot catch this: it only recognises retries from the same producer session, and each new
task attempt starts a new producer with a fresh producer id.  (Spark's documentation says so
and suggests a unique key to deduplicate downstream.)

kcli's sink derives the producer identity from the query instead of the session: producer id
from the query id in the checkpoint and the task, producer epoch from the micro-batch id,
sequence numbers from each record's position in the task's output.  A replayed micro-batch
carries exactly the same identities, and the log — which records them inside the appended
batches, under the partition lock — skips what it already holds.  See ``pyspark_kcli.sink``.
"""

from __future__ import annotations

from pyspark.sql.datasource import DataSource
from pyspark.sql.types import StructType

from pyspark_kcli.options import (
    DataLossError,
    SparkOptionError,
    parse_sink_options,
    parse_source_options,
)

__all__ = ["DataLossError", "DefaultSource", "KcliDataSource", "SparkOptionError", "register"]


class KcliDataSource(DataSource):
    """The ``kcli`` data source: read and write kcli topics, in batches or as streams."""

    @classmethod
    def name(cls) -> str:
        return "kcli"

    def schema(self) -> StructType:
        from pyspark_kcli.source import source_schema

        include = parse_source_options(self.options, streaming=False).include_headers
        return source_schema(include)

    def reader(self, schema: StructType):
        from pyspark_kcli.source import KcliBatchReader

        return KcliBatchReader(parse_source_options(self.options, streaming=False), schema)

    def streamReader(self, schema: StructType):
        from pyspark_kcli.source import KcliStreamReader

        return KcliStreamReader(parse_source_options(self.options, streaming=True), schema)

    def writer(self, schema: StructType, overwrite: bool):
        from pyspark_kcli.sink import KcliBatchWriter, check_sink_schema

        _refuse_overwrite(overwrite)
        options = parse_sink_options(self.options)
        check_sink_schema(options, schema)
        return KcliBatchWriter(options)

    def streamWriter(self, schema: StructType, overwrite: bool):
        from pyspark_kcli.sink import KcliStreamWriter, check_sink_schema

        # outputMode("complete") arrives as overwrite: the log gets the whole result table
        # each micro-batch, as with Spark's Kafka sink.
        options = parse_sink_options(self.options)
        check_sink_schema(options, schema)
        return KcliStreamWriter(options)


def _refuse_overwrite(overwrite: bool) -> None:
    if overwrite:
        raise SparkOptionError(
            'a topic is an append-only log: write with mode("append"), not "overwrite"'
        )


# What PySpark's data source lookup looks for in a top-level ``pyspark_*`` module.
DefaultSource = KcliDataSource


def register(spark) -> None:
    """Register format("kcli") on ``spark`` (needed only where automatic discovery is off)."""
    spark.dataSource.register(KcliDataSource)
