"""`kcli topic`: create, list, describe, alter and delete topics."""

# Start-up: every command module is imported for `kcli --help`, so the engine (storage),
# kcli.render and rich are imported inside the commands that use them (benchmarks/bench_cli.py).

import typer

from kcli.commands._common import Output, backend, output_option, parse_pairs
from kcli.settings import current

app = typer.Typer(
    help="Create, list, describe, alter and delete topics.",
    no_args_is_help=True,
)

_NAME = typer.Argument(
    ..., help="Topic name: 1-249 characters of a-z A-Z 0-9 . _ -", metavar="NAME"
)
_CONFIG_HELP = (
    "A topic config, KEY=VALUE, with Kafka's names: retention.ms, retention.bytes, "
    "segment.bytes, segment.ms, max.message.bytes, index.interval.bytes, cleanup.policy "
    "(delete, compact or compact,delete), message.timestamp.type, min.cleanable.dirty.ratio, "
    "delete.retention.ms, min.compaction.lag.ms, max.compaction.lag.ms, min.insync.replicas "
    "(used by a kcli cluster; a local store is one replica). Repeat for several."
)


@app.command("create")
def create(
    name: str = _NAME,
    partitions: int = typer.Option(
        1, "--partitions", "-p", help="Number of partitions (Kafka's default: 1).", metavar="N"
    ),
    config: list[str] = typer.Option(
        [], "--config", "-c", metavar="KEY=VALUE", help=_CONFIG_HELP, show_default=False
    ),
    if_not_exists: bool = typer.Option(
        False,
        "--if-not-exists",
        help="Succeed without changes if the topic already exists.",
        metavar="",
    ),
    replication_factor: int = typer.Option(
        -1,
        "--replication-factor",
        "-r",
        help="Copies of each partition, on different brokers (a cluster only; default: the "
        "cluster's default.replication.factor; the local store keeps 1).",
        metavar="R",
        show_default=False,
    ),
) -> None:
    """Create a topic with N partitions and optional config overrides."""
    from kcli import render
    from storage import validate_topic_name

    overrides = parse_pairs(config, "--config")
    validate_topic_name(name)
    b = backend()
    existed = if_not_exists and b.topic_exists(name)
    meta = b.create_topic(
        name,
        partitions,
        overrides,
        if_not_exists=if_not_exists,
        replication_factor=replication_factor,
    )
    if existed:
        render.note(f"Topic {name} already exists ({meta.partitions} partitions); nothing changed.")
        return
    plural = "s" if meta.partitions != 1 else ""
    render.note(f"Created topic {name} with {meta.partitions} partition{plural}.")


@app.command("list")
def list_topics(output: Output | None = output_option()) -> None:
    """List topics (json: one {"topic", "partitions"} per line)."""
    from kcli import render

    form = render.resolve(output)
    b = backend()
    rows = []
    for meta in b.topics():
        row = {"topic": meta.name, "partitions": meta.partitions}
        if form == render.TABLE:
            desc = b.describe_topic(meta.name)
            row["records"] = sum(p.log_end_offset - p.log_start_offset for p in desc.partitions)
            sizes = [p.size_bytes for p in desc.partitions]
            row["size_bytes"] = None if None in sizes else sum(sizes)  # None: a cluster
        rows.append(row)
    render.topic_list(rows, form)

    if current().connection is None:  # the local store: say which topic files were skipped
        for problem in current().store().damaged_topics():
            render.note(f"Skipped a damaged topic: {problem}")


@app.command("describe")
def describe(name: str = _NAME, output: Output | None = output_option()) -> None:
    """Show a topic's partitions (log start and end offsets, size, segments), a picture of them, and every config with its effective value."""
    from kcli import render

    form = render.resolve(output)
    b = backend()
    desc = b.describe_topic(name)
    # A cluster does not show its segments: None, and the picture shows offsets only.
    segments = b.segments(name) if form == render.TABLE else {}
    render.topic_describe(desc, segments, form)


@app.command("alter")
def alter(
    name: str = _NAME,
    partitions: int | None = typer.Option(
        None, "--partitions", "-p", help="New partition count (it can only grow).", metavar="N"
    ),
    config: list[str] = typer.Option(
        [], "--config", "-c", metavar="KEY=VALUE", help=_CONFIG_HELP, show_default=False
    ),
) -> None:
    """Add partitions or change config overrides of a topic."""
    from kcli import render

    overrides = parse_pairs(config, "--config")
    if partitions is None and not overrides:
        raise typer.BadParameter("nothing to change: give --partitions N and/or --config K=V")
    b = backend()
    before = b.topic(name)
    meta = b.alter_topic(name, partitions=partitions, config=overrides or None)
    changes = []
    if partitions is not None:
        changes.append(f"partitions {before.partitions} -> {meta.partitions}")
    changes += [f"{k}={v}" for k, v in overrides.items()]
    render.note(f"Altered topic {name}: {', '.join(changes)}.")


@app.command("compact")
def compact(
    name: str = _NAME,
    partition: int | None = typer.Option(
        None, "--partition", "-p", help="Clean only this partition (default: all).", metavar="N"
    ),
    output: Output | None = output_option(),
) -> None:
    """Run the log cleaner on a compacted topic now, whatever its dirty ratio: keep the latest record of every key in the closed segments (offsets kept, so the log has gaps), drop tombstones older than delete.retention.ms."""
    from kcli import render

    form = render.resolve(output)
    results = backend().compact_topic(name, partition)
    render.topic_compact(results, form)


@app.command("delete")
def delete(name: str = _NAME) -> None:
    """Delete a topic and all its records."""
    from kcli import render

    backend().delete_topic(name)
    render.note(f"Deleted topic {name}.")
