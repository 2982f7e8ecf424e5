"""Reading kcli topics into Spark: ``spark.read`` and ``spark.readStream`` with format("kcli").

One Spark partition per topic-partition and micro-batch.  A task seeks to its start offset
through the partition's offset index (``Log.read``), decodes whole RecordBatch v2 batches and
hands Spark Arrow record batches, never row-by-row tuples.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

from pyspark.sql.datasource import DataSourceReader, DataSourceStreamReader, InputPartition
from pyspark.sql.streaming.datasource import (
    ReadAllAvailable,
    ReadLimit,
    ReadMaxRows,
    SupportsTriggerAvailableNow,
)
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from pyspark_kcli.options import (
    EARLIEST,
    LATEST,
    DataLossError,
    Offsets,
    SourceOptions,
    SparkOptionError,
    Subscription,
    TopicPartition,
    offsets_from_json,
    offsets_to_json,
)

log = logging.getLogger("pyspark_kcli")

# Kafka's timestampType codes, as Spark's Kafka source reports them.
CREATE_TIME = 0
LOG_APPEND_TIME = 1
# Bytes fetched per read: large enough that Arrow conversion, not seeking, dominates.
FETCH_BYTES = 2 << 20

HEADERS_TYPE = ArrayType(
    StructType([StructField("key", StringType()), StructField("value", BinaryType())])
)


def source_schema(include_headers: bool = False) -> StructType:
    """The columns of Spark's Kafka source, in its order (``headers`` with includeHeaders)."""
    fields = [
        StructField("key", BinaryType()),
        StructField("value", BinaryType()),
        StructField("topic", StringType()),
        StructField("partition", IntegerType()),
        StructField("offset", LongType()),
        StructField("timestamp", TimestampType()),
        StructField("timestampType", IntegerType()),
    ]
    if include_headers:
        fields.append(StructField("headers", HEADERS_TYPE))
    return StructType(fields)


def check_schema(options: SourceOptions, schema: StructType) -> None:
    expected = source_schema(options.include_headers)
    if schema != expected:
        raise SparkOptionError(
            "format kcli has a fixed schema (Spark's Kafka source columns); do not pass "
            f".schema(...). Expected {expected.simpleString()}, got {schema.simpleString()}"
        )


def open_store(options: SourceOptions):
    """The store, never created by a reader: a mistyped path is an error, not an empty store."""
    from storage import Store

    return Store(options.data_dir, create=False)


class KcliInputPartition(InputPartition):
    """Offsets ``start`` (inclusive) to ``end`` (exclusive) of one topic-partition."""

    def __init__(self, topic: str, partition: int, start: int, end: int):
        super().__init__((topic, partition, start, end))
        self.topic = topic
        self.partition = partition
        self.start = start
        self.end = end


# -- planning (driver) ----------------------------------------------------------------------


def subscribed_partitions(
    store, subscription: Subscription, *, missing_ok: bool = False
) -> list[TopicPartition]:
    """The topic-partitions a subscription covers right now.

    A topic that does not exist is an error, unless ``missing_ok`` (a running query whose
    topic was deleted: that is data loss, judged by the caller).
    """
    from storage.errors import PartitionNotFound, TopicNotFound

    def partitions(topic: str) -> int:
        try:
            return store.topic(topic).partitions
        except TopicNotFound:
            if missing_ok:
                return 0
            raise

    if subscription.assigned:
        counts: dict[str, int] = {}
        out = []
        for topic, partition in subscription.assigned:
            if topic not in counts:
                counts[topic] = partitions(topic)
            if 0 <= partition < counts[topic]:
                out.append((topic, partition))
            elif not missing_ok:
                raise PartitionNotFound(
                    f"option assign names {topic}-{partition}, but topic '{topic}' has "
                    f"{counts[topic]} partition(s), numbered 0..{counts[topic] - 1}"
                )
        return out
    if subscription.pattern is not None:
        rx = re.compile(subscription.pattern)
        named = [(m.name, m.partitions) for m in store.topics() if rx.fullmatch(m.name)]
    else:
        named = [(t, partitions(t)) for t in subscription.topics]
    return [(t, p) for t, count in named for p in range(count)]


def log_bounds(store, tp: TopicPartition) -> tuple[int, int]:
    log_ = store.log(*tp)
    return log_.log_start_offset, log_.log_end_offset


def resolve_start(
    store,
    tps: list[TopicPartition],
    spec: str | Offsets,
    *,
    fail_on_data_loss: bool,
    option: str = "startingOffsets",
) -> Offsets:
    """Concrete start offsets for ``tps`` from earliest / latest / explicit JSON offsets."""
    if isinstance(spec, dict):
        _check_names_every_partition(spec, tps, option)
    out: Offsets = {}
    for tp in tps:
        start, end = log_bounds(store, tp)
        wanted = spec if isinstance(spec, str) else spec[tp]
        if wanted in ("earliest", EARLIEST):
            out[tp] = start
        elif wanted in ("latest", LATEST):
            out[tp] = end
        elif wanted > end:
            raise SparkOptionError(
                f"{option}: offset {wanted} of {tp[0]}-{tp[1]} is beyond its log_end_offset "
                f"{end}; valid offsets are {start}..{end}"
            )
        elif wanted < start:
            report_data_loss(
                fail_on_data_loss,
                f"{option} asks for {tp[0]}-{tp[1]} from offset {wanted}, but retention has "
                f"deleted offsets {wanted}..{start - 1} (log_start_offset is {start})",
            )
            out[tp] = start
        else:
            out[tp] = wanted
    return out


def _check_names_every_partition(spec: Offsets, tps: list[TopicPartition], option: str) -> None:
    missing = [tp for tp in tps if tp not in spec]
    extra = [tp for tp in spec if tp not in set(tps)]
    if missing:
        names = ", ".join(f"{t}-{p}" for t, p in missing)
        raise SparkOptionError(
            f"{option} must give an offset for every partition read; missing: {names} "
            "(use -2 for earliest, -1 for latest)"
        )
    if extra:
        names = ", ".join(f"{t}-{p}" for t, p in extra)
        raise SparkOptionError(f"{option} names partitions that are not read: {names}")


def report_data_loss(fail: bool, message: str) -> None:
    if fail:
        raise DataLossError(
            f"{message}. Some records the query should read are gone (aged out by retention, "
            'or their topic was deleted). Set the option failOnDataLoss to "false" to skip '
            "them and continue with the records still there."
        )
    log.warning("%s; skipping them (failOnDataLoss=false)", message)


def rate_limit(begin: Offsets, latest: Offsets, max_offsets: int) -> Offsets:
    """End offsets that take at most ``max_offsets`` offsets in all, shared by lag.

    Each partition gets a share proportional to how far behind it is (as Spark's Kafka source
    shares maxOffsetsPerTrigger); what rounding leaves goes to the largest remainders, so the
    total is exactly the limit whenever there is that much to read.
    """
    pending = {tp: max(0, latest[tp] - begin.get(tp, 0)) for tp in latest}
    total = sum(pending.values())
    if total <= max_offsets:
        return dict(latest)
    shares: dict[TopicPartition, int] = {}
    remainders = []
    for tp, lag in pending.items():
        exact = lag * max_offsets / total
        shares[tp] = int(exact)
        remainders.append((exact - int(exact), tp))
    left = max_offsets - sum(shares.values())
    for _, tp in sorted(remainders, key=lambda r: (-r[0], r[1]))[:left]:
        shares[tp] += 1
    return {tp: begin.get(tp, 0) + shares[tp] for tp in latest}


# -- reading (executors) --------------------------------------------------------------------


def read_partition(
    options: SourceOptions, part: KcliInputPartition, schema: StructType
) -> Iterator:
    """Arrow record batches with the records of ``part`` (offsets start..end-1)."""
    from pyspark.sql.pandas.types import to_arrow_schema

    from storage.errors import PartitionNotFound, TopicNotFound

    arrow_schema = to_arrow_schema(schema, timezone="UTC")
    store = open_store(options)
    try:
        try:
            log_ = store.log(part.topic, part.partition)
        except (TopicNotFound, PartitionNotFound):
            report_data_loss(
                options.fail_on_data_loss,
                f"{part.topic}-{part.partition} no longer exists, but offsets "
                f"{part.start}..{part.end - 1} were not read",
            )
            return
        yield from _read_log(options, log_, part, arrow_schema)
    finally:
        # Spark reuses its Python workers: a task must not leave files open behind it.
        store.close()


def _read_log(options: SourceOptions, log_, part: KcliInputPartition, arrow_schema) -> Iterator:
    import pyarrow as pa

    from storage.errors import OffsetOutOfRange
    from storage.fetched import decoded_batches

    where = f"{part.topic}-{part.partition}"
    offset = part.start
    end = part.end
    while offset < end:
        try:
            fetched = log_.read(offset, FETCH_BYTES).records
        except OffsetOutOfRange as exc:
            if offset >= exc.log_start_offset:
                raise
            report_data_loss(
                options.fail_on_data_loss,
                f"{where}: offsets {offset}..{exc.log_start_offset - 1} were deleted by retention "
                f"before they were read (log_start_offset is {exc.log_start_offset})",
            )
            offset = exc.log_start_offset
            continue
        if not fetched:
            report_data_loss(
                options.fail_on_data_loss,
                f"{where} ends at offset {offset}, before offset {end} this batch was planned to "
                "read up to",
            )
            return
        columns = _Columns(options.include_headers)
        for header, records in decoded_batches(fetched, offset, end - offset):
            while records and records[-1][0] >= end:
                records.pop()
            tstype = LOG_APPEND_TIME if header.timestamp_type == "LogAppendTime" else CREATE_TIME
            columns.add(records, tstype)
            offset = min(header.next_offset, end)
            if offset >= end:
                break
        if columns.count:
            yield columns.to_arrow(pa, arrow_schema, part.topic, part.partition)


class _Columns:
    """Column lists for one Arrow batch, filled a RecordBatch v2 batch at a time."""

    def __init__(self, include_headers: bool):
        self.include_headers = include_headers
        self.offsets: list[int] = []
        self.timestamps: list[int] = []
        self.keys: list = []
        self.values: list = []
        self.headers: list = []
        self.tstypes: list[int] = []

    @property
    def count(self) -> int:
        return len(self.offsets)

    def add(self, records: list, tstype: int) -> None:
        if not records:
            return
        offsets, timestamps, keys, values, headers = zip(*records, strict=True)
        self.offsets.extend(offsets)
        self.timestamps.extend(timestamps)
        self.keys.extend(keys)
        self.values.extend(values)
        self.tstypes.extend([tstype] * len(records))
        if self.include_headers:
            self.headers.extend([{"key": k, "value": v} for k, v in hs] for hs in headers)

    def to_arrow(self, pa, schema, topic: str, partition: int):
        n = self.count
        ts_type = schema.field("timestamp").type
        arrays = [
            pa.array(self.keys, type=pa.binary()),
            pa.array(self.values, type=pa.binary()),
            pa.repeat(pa.scalar(topic, pa.string()), n),
            pa.repeat(pa.scalar(partition, pa.int32()), n),
            pa.array(self.offsets, type=pa.int64()),
            pa.array(self.timestamps, type=pa.timestamp("ms", tz="UTC")).cast(ts_type),
            pa.array(self.tstypes, type=pa.int32()),
        ]
        if self.include_headers:
            arrays.append(pa.array(self.headers, type=schema.field("headers").type))
        return pa.RecordBatch.from_arrays(arrays, schema=schema)


# -- the readers ----------------------------------------------------------------------------


class KcliBatchReader(DataSourceReader):
    """``spark.read.format("kcli")``: a fixed offset range per topic-partition, planned once."""

    def __init__(self, options: SourceOptions, schema: StructType):
        check_schema(options, schema)
        self.options = options
        self.schema = schema
        store = open_store(options)
        tps = subscribed_partitions(store, options.subscription)
        start = resolve_start(
            store, tps, options.starting, fail_on_data_loss=options.fail_on_data_loss
        )
        end = resolve_start(
            store, tps, options.ending, fail_on_data_loss=True, option="endingOffsets"
        )
        for tp in tps:
            if start[tp] > end[tp]:
                raise SparkOptionError(
                    f"startingOffsets {start[tp]} of {tp[0]}-{tp[1]} is after its endingOffsets "
                    f"{end[tp]}"
                )
        self.ranges = [KcliInputPartition(t, p, start[(t, p)], end[(t, p)]) for t, p in tps]
        store.close()

    def partitions(self) -> list[InputPartition]:
        return [r for r in self.ranges if r.end > r.start]

    def read(self, partition: InputPartition) -> Iterator:
        if not isinstance(partition, KcliInputPartition):
            return iter(())  # nothing to read: Spark still runs one empty task
        return read_partition(self.options, partition, self.schema)


class KcliStreamReader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    """``spark.readStream.format("kcli")``: micro-batches of offset ranges.

    Offsets (in the checkpoint too) are Kafka-shaped: ``{"topic": {"partition": offset}}``.
    """

    def __init__(self, options: SourceOptions, schema: StructType):
        check_schema(options, schema)
        self.options = options
        self.schema = schema
        self._available_now_target: Offsets | None = None
        self._store = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_store"] = None  # open files stay in the process that opened them
        return state

    @property
    def store(self):
        if self._store is None:
            self._store = open_store(self.options)
        return self._store

    def _latest(self) -> Offsets:
        tps = subscribed_partitions(self.store, self.options.subscription, missing_ok=True)
        return {tp: self.store.log(*tp).log_end_offset for tp in tps}

    def initialOffset(self) -> dict:
        tps = subscribed_partitions(self.store, self.options.subscription)
        start = resolve_start(
            self.store, tps, self.options.starting, fail_on_data_loss=self.options.fail_on_data_loss
        )
        return offsets_to_json(start)

    def getDefaultReadLimit(self) -> ReadLimit:
        if self.options.max_offsets_per_trigger:
            return ReadMaxRows(self.options.max_offsets_per_trigger)
        return ReadAllAvailable()

    def prepareForTriggerAvailableNow(self) -> None:
        # What exists now is the whole job: records appended later wait for the next run.
        self._available_now_target = self._latest()

    def latestOffset(self, start: dict, limit: ReadLimit) -> dict:
        begin = offsets_from_json(start, what="start offset")
        current = self._latest()
        for tp in begin:
            if tp not in current:
                report_data_loss(
                    self.options.fail_on_data_loss,
                    f"{tp[0]}-{tp[1]} was deleted before offsets from {begin[tp]} on were read",
                )
        latest = current
        if self._available_now_target is not None:
            latest = {
                tp: min(o, current[tp])
                for tp, o in self._available_now_target.items()
                if tp in current
            }
        # A partition the query has not seen before (added by `kcli topic alter`) starts at its
        # beginning, as in Spark's Kafka source; offsets never move backwards.
        latest = {tp: max(o, begin.get(tp, 0)) for tp, o in latest.items()}
        if isinstance(limit, ReadMaxRows):
            latest = rate_limit(begin, latest, limit.max_rows)
        return offsets_to_json(latest)

    def reportLatestOffset(self) -> dict | None:
        return offsets_to_json(self._latest())

    def partitions(self, start: dict, end: dict) -> list[InputPartition]:
        begin = offsets_from_json(start, what="start offset")
        stop = offsets_from_json(end, what="end offset")
        return [
            KcliInputPartition(t, p, begin.get((t, p), 0), e)
            for (t, p), e in sorted(stop.items())
            if e > begin.get((t, p), 0)
        ]

    def read(self, partition: InputPartition) -> Iterator:
        return read_partition(self.options, partition, self.schema)

    def commit(self, end: dict) -> None:
        """Nothing to do: like Spark's Kafka source, progress lives in the checkpoint only."""

    def stop(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
