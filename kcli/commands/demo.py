"""`kcli demo`: live, measured demonstrations of each idea in the lessons."""

# Start-up: every command module is imported for `kcli --help`, so the engine (storage),
# kcli.render and rich are imported inside the commands that use them (benchmarks/bench_cli.py).

from __future__ import annotations

import importlib

import typer

from kcli.errors import KcliError
from kcli.settings import current

app = typer.Typer(
    help="Live demos of Kafka's ideas on real sockets, processes and the real store. "
    "Each runs in well under a minute and ends with a summary of what it showed.",
    no_args_is_help=True,
)

_FAST = typer.Option(
    False,
    "--fast",
    envvar="KCLI_DEMO_FAST",
    help="Run in a few seconds (shorter phases, fewer records).",
)
_SECONDS = typer.Option(
    None, "--seconds", min=1.0, max=300.0, help="About how long the demo should run."
)


def _run(module: str, fast: bool, seconds: float | None, **options) -> None:
    from kcli.demos._common import DemoContext

    current().require_local("demo")  # demos run their own producers and consumers on files
    ctx = DemoContext(current().data_dir, fast=fast, seconds=seconds)
    importlib.import_module(f"kcli.demos.{module}").run(ctx, **options)


@app.command("socket-vs-log")
def socket_vs_log(fast: bool = _FAST, seconds: float | None = _SECONDS) -> None:
    """A 1000 msg/s producer and a 100 msg/s consumer over a real TCP socket (blocking, dropping, late reader, two readers), then over a topic."""
    _run("socket_vs_log", fast, seconds)


@app.command("slow-consumer")
def slow_consumer(fast: bool = _FAST, seconds: float | None = _SECONDS) -> None:
    """A traffic spike: a consumer group's lag grows while the producer is faster, then drains."""
    _run("slow_consumer", fast, seconds)


@app.command("retention")
def retention(fast: bool = _FAST, seconds: float | None = _SECONDS) -> None:
    """Days pass on a simulated clock: whole segments are deleted, log_start_offset moves."""
    _run("retention", fast, seconds)


@app.command("compaction")
def compaction(fast: bool = _FAST, seconds: float | None = _SECONDS) -> None:
    """A topic as a table: the log cleaner keeps each user's latest profile; a tombstone deletes one."""
    _run("compaction", fast, seconds)


@app.command("pubsub")
def pubsub(fast: bool = _FAST, seconds: float | None = _SECONDS) -> None:
    """One producer, several consumer groups reading independently; a late one replays."""
    _run("pubsub", fast, seconds)


@app.command("group-scaling")
def group_scaling(fast: bool = _FAST, seconds: float | None = _SECONDS) -> None:
    """Consumer processes join a group one by one (rebalances), one more than partitions idles, then one is killed and its partitions move."""
    _run("group_scaling", fast, seconds)


@app.command("rebalance")
def rebalance(fast: bool = _FAST, seconds: float | None = _SECONDS) -> None:
    """Eager against cooperative rebalancing: which partitions pause, and for how long."""
    _run("rebalance", fast, seconds)


@app.command("queue-vs-log")
def queue_vs_log(fast: bool = _FAST, seconds: float | None = _SECONDS) -> None:
    """A work queue deletes what is consumed; a log keeps it for every group."""
    _run("queue_vs_log", fast, seconds)


@app.command("pipeline")
def pipeline(
    fast: bool = _FAST,
    seconds: float | None = _SECONDS,
    out: str | None = typer.Option(
        None, "--out", help="Folder for the invoice files (default: demo-invoices in the data dir)."
    ),
) -> None:
    """Source -> process -> sink: purchases become invoices, in a topic and as files."""
    _run("pipeline", fast, seconds, out=out)


@app.command("iot")
def iot(
    fast: bool = _FAST,
    seconds: float | None = _SECONDS,
    devices: int = typer.Option(1000, "--devices", min=1, max=100_000, help="How many devices."),
) -> None:
    """A fleet of simulated devices producing readings; a consumer group processing them."""
    _run("iot", fast, seconds, devices=devices)


@app.command("cluster")
def cluster(
    fast: bool = _FAST,
    seconds: float | None = _SECONDS,
    brokers: int = typer.Option(4, "--brokers", min=1, max=9, help="Brokers in the cluster."),
    topic: str | None = typer.Option(
        None, "--topic", help="Lay out this existing topic's partitions (default: a demo topic)."
    ),
    replication_factor: int = typer.Option(
        3, "--replication-factor", min=1, max=9, help="Copies of each partition."
    ),
) -> None:
    """A SIMULATED cluster of brokers: leaders, replicas, a broker failing and catching up."""
    _run(
        "cluster",
        fast,
        seconds,
        brokers=brokers,
        topic=topic,
        replication_factor=replication_factor,
    )


@app.command("spark")
def spark(fast: bool = _FAST) -> None:
    """Spark Structured Streaming with kcli topics as source and sink (needs pyspark)."""
    current().require_local("demo spark")
    try:
        module = importlib.import_module("kcli.demos.spark")
    except ModuleNotFoundError as exc:
        if exc.name != "kcli.demos.spark":
            raise
        raise KcliError("the Spark demo is not part of this installation") from None
    module.run_spark_demo(current().data_dir, fast)
