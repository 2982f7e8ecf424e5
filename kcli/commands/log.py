"""`kcli log`: look inside a partition's segment files, like Kafka's kafka-dump-log."""

# Start-up: every command module is imported for `kcli --help`, so the engine (storage),
# kcli.render and rich are imported inside the commands that use them (benchmarks/bench_cli.py).

import typer

from kcli.commands._common import Output, output_option, require_local, store

app = typer.Typer(
    help="Look inside a partition's files: segments, batches, records and indexes.",
    no_args_is_help=True,
)


@app.command("dump")
def dump(
    topic: str = typer.Argument(..., help="Topic to inspect.", metavar="TOPIC"),
    partition: int = typer.Option(
        0, "--partition", "-p", help="Partition to inspect.", metavar="P"
    ),
    records: bool = typer.Option(
        False, "--records", help="Show every record of every batch.", metavar=""
    ),
    index: bool = typer.Option(
        False,
        "--index",
        help="Show the offset index (offset -> byte position) and time index entries: what a "
        "read at an offset or a time looks up first.",
        metavar="",
    ),
    output: Output | None = output_option(),
) -> None:
    """Show each segment file of a partition, batch by batch: base and last offset, byte position, size, CRC-32C and whether it is valid, timestamps and record count.

    Like Kafka's kafka-dump-log. A batch whose CRC does not match is shown as invalid (and reported on stderr); the file is only read, never changed.
    """
    from kcli import render
    from storage.segment_dump import dump_segments

    require_local("log dump")  # a cluster's files are on its brokers, not here
    segments = store().log(topic, partition).segments()
    render.log_dump(
        render.resolve(output),
        topic,
        partition,
        dump_segments(segments, with_records=records, with_index=index),
        total=sum(s.size_bytes for s in segments),
        show_records=records,
    )
