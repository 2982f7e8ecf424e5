"""Spark Structured Streaming through kcli topics, next to the same job on Parquet files.

One run, one SparkSession (local[2]):

1. N records (default 1,000,000; 100-byte values, 10-byte keys) are appended to a kcli topic
   with 4 partitions through the storage API, and the same records are written as 4 Parquet
   files with pyarrow.
2. Warm-up: a tiny query through each path, so that JVM and Python-worker start-up is not
   charged to whichever job runs first.
3. Timed: a ``trigger(availableNow=True)`` query reading the topic and writing every record to
   another topic with ``format("kcli")``; then the same query from the Parquet files to Parquet
   files.  records/s = N / (start → awaitTermination returns), and the ratio.

    python benchmarks/bench_spark.py              # 1M records
    python benchmarks/bench_spark.py --records 200000
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARTITIONS = 4
VALUE_BYTES = 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    args = parser.parse_args()
    n = args.records

    with tempfile.TemporaryDirectory(prefix="kcli-bench-spark-") as tmp:
        work = Path(tmp)
        data_dir = work / "data"
        t = time.perf_counter()
        make_topic(data_dir, "bench-in", n)
        make_topic(data_dir, "bench-warm", 1000)
        print(
            f"setup: {n:,} records appended to a {PARTITIONS}-partition topic in "
            f"{time.perf_counter() - t:.1f} s",
            file=sys.stderr,
        )
        make_parquet(work / "parquet-in", n)
        make_parquet(work / "parquet-warm", 1000)

        spark = start_spark()
        from storage import Store

        store = Store(data_dir)
        store.create_topic("bench-out", PARTITIONS)
        store.create_topic("bench-warm-out", PARTITIONS)

        kcli_job(spark, data_dir, "bench-warm", "bench-warm-out", work / "ckpt-warm")
        parquet_job(spark, work / "parquet-warm", work / "out-warm", work / "ckpt-pwarm")

        kcli_s = kcli_job(spark, data_dir, "bench-in", "bench-out", work / "ckpt-kcli")
        written = sum(store.log("bench-out", p).log_end_offset for p in range(PARTITIONS))
        assert written == n, f"the kcli job wrote {written} records, expected {n}"
        parquet_s = parquet_job(spark, work / "parquet-in", work / "parquet-out", work / "ckpt-pq")
        rows = spark.read.parquet(str(work / "parquet-out")).count()
        assert rows == n, f"the Parquet job wrote {rows} rows, expected {n}"
        spark.stop()

    kcli_rate = n / kcli_s
    parquet_rate = n / parquet_s
    print(f"Spark availableNow query, {n:,} records of {VALUE_BYTES} B, local[2]:")
    print(f"  kcli topic -> kcli topic       {kcli_s:7.1f} s  {kcli_rate:12,.0f} records/s")
    print(f"  Parquet files -> Parquet files {parquet_s:7.1f} s  {parquet_rate:12,.0f} records/s")
    print(f"  kcli / Parquet: {kcli_rate / parquet_rate:.2f}x")


def make_topic(data_dir: Path, topic: str, n: int) -> None:
    from storage import ProducerRecord, Store

    store = Store(data_dir)
    store.create_topic(topic, PARTITIONS)
    pad = b"x" * (VALUE_BYTES - 10)
    step = 10_000
    for start in range(0, n, step):
        chunk = range(start, min(n, start + step))
        per_partition: dict[int, list] = {p: [] for p in range(PARTITIONS)}
        for i in chunk:
            per_partition[i % PARTITIONS].append(
                ProducerRecord(b"%010d" % i + pad, b"key-%06d" % (i % 1_000_000))
            )
        for p, records in per_partition.items():
            if records:
                store.log(topic, p).append_records(records)
    store.close()


def make_parquet(directory: Path, n: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    directory.mkdir(parents=True)
    pad = b"x" * (VALUE_BYTES - 10)
    for p in range(PARTITIONS):
        ids = range(p, n, PARTITIONS)
        table = pa.table(
            {
                "key": pa.array([b"key-%06d" % (i % 1_000_000) for i in ids], pa.binary()),
                "value": pa.array([b"%010d" % i + pad for i in ids], pa.binary()),
            }
        )
        pq.write_table(table, directory / f"part-{p}.parquet")


def start_spark():
    sys.path.insert(0, str(ROOT))  # run from a clone: the package next to this folder
    from pyspark_kcli.session import local_session

    return local_session("kcli-bench-spark")


def kcli_job(spark, data_dir: Path, source: str, sink: str, checkpoint: Path) -> float:
    t = time.perf_counter()
    query = (
        spark.readStream.format("kcli")
        .option("subscribe", source)
        .option("startingOffsets", "earliest")
        .load(str(data_dir))
        .select("key", "value")
        .writeStream.format("kcli")
        .option("path", str(data_dir))
        .option("topic", sink)
        .option("checkpointLocation", str(checkpoint))
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
    if query.exception() is not None:
        raise SystemExit(f"kcli job failed: {query.exception()}")
    return time.perf_counter() - t


def parquet_job(spark, source: Path, sink: Path, checkpoint: Path) -> float:
    t = time.perf_counter()
    query = (
        spark.readStream.schema("key binary, value binary")
        .parquet(str(source))
        .select("key", "value")
        .writeStream.format("parquet")
        .option("path", str(sink))
        .option("checkpointLocation", str(checkpoint))
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
    if query.exception() is not None:
        raise SystemExit(f"Parquet job failed: {query.exception()}")
    shutil.rmtree(checkpoint, ignore_errors=True)
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
