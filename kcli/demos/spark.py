"""Demo: Spark Structured Streaming with kcli topics as source and sink.

Checkout counters produce purchases (keyed by store) to a topic while a Spark query reads it
with ``format("kcli")``, keeps running totals per store and, after each micro-batch, writes
them to a second topic.  Then the last micro-batch is replayed, as after a crash, to show
that the kcli sink writes it only once.  Needs the ``spark`` extra (pyspark, pyarrow) and
Java 17+.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

from kcli.errors import KcliError

SOURCE = "demo-spark-purchases"
SINK = "demo-spark-totals"
CHECKPOINT_DIR = "demo-spark-checkpoint"
PARTITIONS = 3
STORES = ("berlin", "lisbon", "oslo", "paris", "rome", "vienna")
PRICES = ("1.50", "3.20", "7.90", "12.50", "24.00")
INSTALL_HINT = "pip install 'kcli-kafka[spark]' (or pip install '.[spark]' from a clone)"
QUIET_LOG4J = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = stderr
appender.stderr.type = Console
appender.stderr.name = stderr
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
"""


def check_spark_installed() -> None:
    """Raise a KcliError saying how to get what the demo needs: pyspark, pyarrow, Java."""
    missing = []
    for module in ("pyspark", "pyarrow"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise KcliError(
            f"the Spark demo needs {' and '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not installed: install it with {INSTALL_HINT}"
        )
    java_home = os.environ.get("JAVA_HOME")
    if not shutil.which("java") and not (java_home and Path(java_home, "bin", "java").exists()):
        raise KcliError(
            "Spark needs Java 17 or newer and no java was found on PATH or in JAVA_HOME; "
            "install a JDK (e.g. apt install openjdk-17-jre-headless) and run the demo again"
        )


def start_spark(log_dir: Path):
    """A local Spark on 2 cores, quiet, running its Python workers on this interpreter."""
    from pyspark_kcli.session import local_session

    log_config = log_dir / "log4j2.properties"
    log_config.write_text(QUIET_LOG4J)
    return local_session(
        "kcli demo spark",
        {"spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{log_config}"},
    )


def run_spark_demo(data_dir: Path, fast: bool) -> list[str]:
    """Run the purchases → Spark → totals pipeline live; return the summary lines."""
    check_spark_installed()
    from pyspark.sql import SparkSession

    from kcli.demos._common import DemoContext

    ctx = DemoContext(Path(data_dir), fast=fast)
    existing = SparkSession.getActiveSession()
    with tempfile.TemporaryDirectory(prefix="kcli-spark-") as tmp:
        if existing is None:
            ctx.console.print("[dim]Starting Spark (local[2]); this takes a few seconds...[/]")
        spark = existing or start_spark(Path(tmp))
        try:
            return _run(ctx, spark)
        finally:
            if existing is None:
                spark.stop()


def _run(ctx, spark) -> list[str]:
    import pyspark_kcli
    from kcli import Producer
    from kcli.demos._common import Pacer, heading, live_view, reset_topic, summary

    pyspark_kcli.register(spark)
    store = ctx.store()
    reset_topic(store, SOURCE, PARTITIONS)
    reset_topic(store, SINK, PARTITIONS)
    checkpoint = ctx.data_dir / CHECKPOINT_DIR
    shutil.rmtree(checkpoint, ignore_errors=True)
    seconds = ctx.duration(10.0, 3.0)
    produced = {"count": 0}
    stop = threading.Event()

    def counters() -> None:
        producer = Producer({"data.dir": str(ctx.data_dir)})
        rng = random.Random(13)
        pacer = Pacer(40)
        while not stop.is_set():
            pacer.wait()
            shop = rng.choice(STORES)
            purchase = {"store": shop, "amount": rng.choice(PRICES)}
            producer.produce(SOURCE, key=shop, value=json.dumps(purchase))
            producer.flush()
            produced["count"] += 1

    def totals_in_topic() -> dict[str, dict]:
        latest = {}
        for p in range(PARTITIONS):
            for record in store.log(SINK, p).read_records(0):
                latest[record.key.decode()] = json.loads(record.value)
        return latest

    heading(
        ctx,
        "Spark Structured Streaming: source → process → sink",
        f"Checkout counters produce purchases (keyed by store) to '{SOURCE}'. A Spark query "
        f'reads it with format("kcli"), sums the amounts per store and after each micro-batch '
        f"writes the totals to '{SINK}'.",
    )
    query = start_totals_query(spark, ctx.data_dir, checkpoint, {"processingTime": "1 second"})

    def progress() -> tuple[int, int]:
        done = [p for p in query.recentProgress if p["numInputRows"]]
        return len(done), sum(p["numInputRows"] for p in done)

    def render():
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        batches, rows = progress()
        stages = Table(box=None, pad_edge=False, header_style="bold")
        stages.add_column("stage")
        stages.add_column("what")
        stages.add_column("records", justify="right")
        stages.add_row("source", f"counters → topic {SOURCE}", str(produced["count"]))
        stages.add_row("process", f"Spark: {batches} micro-batches read", str(rows))
        stages.add_row("sink", f"topic {SINK} (all totals, each batch)", str(_end(store, SINK)))
        totals = Table(header_style="bold", title="latest total per store in " + SINK)
        totals.add_column("store")
        totals.add_column("purchases", justify="right")
        totals.add_column("total", justify="right")
        for shop, value in sorted(totals_in_topic().items()):
            totals.add_row(shop, str(value["purchases"]), f"{Decimal(str(value['total'])):.2f}")
        return Group(Text("Spark pipeline", style="bold"), stages, totals)

    def plain():
        batches, rows = progress()
        if not batches:
            return f"purchases {produced['count']}, Spark is planning its first micro-batch"
        return (
            f"purchases {produced['count']}, Spark read {rows} in {batches} micro-batches, "
            f"{_end(store, SINK)} totals written to {SINK}"
        )

    try:
        with live_view(ctx, render, plain) as refresh:
            worker = threading.Thread(target=counters, daemon=True)
            worker.start()
            # Spark's first micro-batch also plans the query and starts its Python workers:
            # keep the counters going until it is done, then for the demo's length.
            _wait(lambda: progress()[0] > 0, query)
            time.sleep(seconds)
            stop.set()
            worker.join()
            purchases = _end(store, SOURCE)
            _wait(lambda: progress()[1] >= purchases, query)
            refresh()
    finally:
        stop.set()
        query.stop()
    if query.exception() is not None:
        raise KcliError(f"the Spark query failed: {query.exception()}")
    batches, rows = progress()

    expected = direct_totals(store)
    in_topic = totals_in_topic()
    agree = {s: (Decimal(str(v["total"])), v["purchases"]) for s, v in in_topic.items()} == expected
    updates = _end(store, SINK)

    heading(
        ctx,
        "A crash between the sink and Spark's commit",
        "Spark records a micro-batch as done in its checkpoint after the sink wrote it. Remove "
        "that record for the last batch, as if Spark died just before writing it, and restart: "
        "Spark runs the batch again.",
    )
    replayed_batch = drop_last_commit(checkpoint)
    replay = start_totals_query(spark, ctx.data_dir, checkpoint, {"availableNow": True})
    replay.awaitTermination(300)
    if replay.exception() is not None:
        raise KcliError(f"the replayed Spark query failed: {replay.exception()}")
    again = [p for p in replay.recentProgress if p["batchId"] == replayed_batch]
    replay_rows = again[0]["numInputRows"] if again else 0
    after = _end(store, SINK)
    ctx.console.print(
        f"Spark ran micro-batch {replayed_batch} again ({replay_rows} purchases); "
        f"'{SINK}' held {updates} records before the replay and {after} after."
    )
    store.close()

    total = sum(t for t, _ in expected.values())
    lines = [
        f"Spark read all {rows} purchases from '{SOURCE}' ({PARTITIONS} partitions) in "
        f"{batches} micro-batch{'es' if batches != 1 else ''}, while the counters were still "
        "producing them",
        f"after each micro-batch it wrote every store's total to '{SINK}' ({updates} records); "
        "the latest one per store "
        + (
            f"equals a direct sum over the topic ({len(expected)} stores, {total:.2f} in all)"
            if agree
            else "does NOT equal a direct sum over the topic"
        ),
        f"replaying micro-batch {replayed_batch} ({replay_rows} purchases) as after a crash "
        + (
            f"appended nothing: '{SINK}' still holds {after} records (exactly once; Spark's "
            "own Kafka sink would have written the batch twice)"
            if after == updates
            else f"appended {after - updates} records again"
        ),
        f"read the totals yourself: kcli consume {SINK} --format '%k %s\\n'",
    ]
    summary(ctx, lines)
    return lines


def start_totals_query(spark, data_dir: Path, checkpoint: Path, trigger: dict):
    """purchases → running totals per store → the totals topic (one record per update)."""
    from pyspark.sql import functions as F

    purchases = (
        spark.readStream.format("kcli")
        .option("subscribe", SOURCE)
        .option("startingOffsets", "earliest")
        .load(str(data_dir))
        .select(
            F.col("key").cast("string").alias("store"),
            F.get_json_object(F.col("value").cast("string"), "$.amount")
            .cast("decimal(12,2)")
            .alias("amount"),
        )
    )
    totals = purchases.groupBy("store").agg(
        F.sum("amount").alias("total"), F.count("*").alias("purchases")
    )
    return (
        totals.select(
            F.col("store").alias("key"),
            F.to_json(F.struct("total", "purchases")).alias("value"),
        )
        .writeStream.format("kcli")
        .outputMode("complete")
        .option("path", str(data_dir))
        .option("topic", SINK)
        .option("checkpointLocation", str(checkpoint))
        .trigger(**trigger)
        .start()
    )


def direct_totals(store) -> dict[str, tuple[Decimal, int]]:
    """Totals per store summed straight from the purchases topic, without Spark."""
    out: dict[str, tuple[Decimal, int]] = {}
    for p in range(PARTITIONS):
        for record in store.log(SOURCE, p).read_records(0):
            purchase = json.loads(record.value)
            total, count = out.get(purchase["store"], (Decimal(0), 0))
            out[purchase["store"]] = (total + Decimal(purchase["amount"]), count + 1)
    return out


def drop_last_commit(checkpoint: Path) -> int:
    """Delete the newest commit file of a checkpoint; return that micro-batch's id."""
    commits = sorted(
        (p for p in (checkpoint / "commits").iterdir() if p.name.isdigit()),
        key=lambda p: int(p.name),
    )
    last = commits[-1]
    last.unlink()
    (last.parent / f".{last.name}.crc").unlink(missing_ok=True)
    return int(last.name)


def _wait(condition, query, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and query.exception() is None and time.monotonic() < deadline:
        time.sleep(0.2)


def _end(store, topic: str) -> int:
    return sum(store.log(topic, p).log_end_offset for p in range(PARTITIONS))
