"""`kcli check`."""

# Start-up: every command module is imported for `kcli --help`, so the engine (storage),
# kcli.render and rich are imported inside the commands that use them (benchmarks/bench_cli.py).

import typer

from kcli.commands._common import Output, output_option


def check(
    topic: str | None = typer.Argument(
        None, help="Check only this topic (default: the whole data directory).", show_default=False
    ),
    repair: bool = typer.Option(
        False,
        "--repair",
        help="Fix what loses no data: truncate a torn last batch, rebuild damaged indexes, "
        "remove files a crash left and producer snapshots that do not parse.",
    ),
    truncate_after_corruption: bool = typer.Option(
        False,
        "--truncate-after-corruption",
        help="With --repair: also truncate a partition at its first corrupt batch or missing "
        "offsets, deleting every record after it (the report says which).",
    ),
    output: Output | None = output_option(),
) -> None:
    """Verify the local store: every segment's batches (CRC and every record), contiguous offsets against the checkpoints, indexes, producer snapshots, topic and group files. Exits 1 if anything is wrong (after --repair: if anything is still wrong)."""
    from kcli import render
    from kcli.commands._common import require_local, store

    if truncate_after_corruption and not repair:
        raise typer.BadParameter(
            "deletes records, so it needs --repair as well",
            param_hint="'--truncate-after-corruption'",
        )
    require_local("check")
    report = store().check(
        topic, repair=repair, truncate_after_corruption=truncate_after_corruption
    )
    render.check_report(report, render.resolve(output))
    if not report.ok:
        raise typer.Exit(1)
