"""`kcli group`: list, describe, watch, reset, delete and simulate consumer groups."""

# Start-up: every command module is imported for `kcli --help`, so the engine (storage),
# kcli.render and rich are imported inside the commands that use them (benchmarks/bench_cli.py).

from __future__ import annotations

import typer

from kcli.commands._common import Output, backend, output_option

app = typer.Typer(
    help="Consumer groups: which member reads which partitions, how far each partition's "
    "committed offset is behind the log end (lag), and what a rebalance moves.",
    no_args_is_help=True,
)

GROUP_ARG = typer.Argument(
    ..., help="The group id (what consumers pass as --group / group.id).", metavar="GROUP"
)


def _groups():
    """The groups of the local store or of the cluster (the same methods either way)."""
    return backend().groups()


# -- list --------------------------------------------------------------------------------------


@app.command("list")
def list_groups(output: Output = output_option()) -> None:
    """List the consumer groups: state, number of members, assignor and generation."""
    from kcli import render

    summaries = _groups().list_groups()
    render.group_list(summaries, render.resolve(output))


# -- describe / watch ----------------------------------------------------------------------------


@app.command("describe")
def describe(
    group: str = GROUP_ARG,
    members: bool = typer.Option(
        False, "--members", help="One row per member: its client id, host, pid and partitions."
    ),
    state: bool = typer.Option(
        False, "--state", help="The group's state, assignor, generation and member count."
    ),
    watch: bool = typer.Option(
        False,
        "--watch",
        "-w",
        help="Keep refreshing in place until Ctrl-C (as 'kcli group watch').",
    ),
    interval: float = typer.Option(
        1.0, "--interval", min=0.05, help="Seconds between refreshes with --watch."
    ),
    output: Output = output_option(),
) -> None:
    """Show a group's partitions: committed offset, log end offset, lag and owner.

    The columns are those of Kafka's kafka-consumer-groups --describe. Members that own nothing (more members than partitions) are listed as idle.
    """
    from kcli import render

    if members and state:
        raise typer.BadParameter("use either --members or --state, not both")
    if watch:
        _watch(group, interval, None, output)
        return
    gs = _groups()
    desc = gs.describe_group(group)
    form = render.resolve(output)
    if state:
        render.group_state(desc, form)
    elif members:
        render.group_members(desc, form)
    else:
        render.group_describe(desc, gs.partition_offsets(group), form)


@app.command("watch")
def watch(
    group: str = GROUP_ARG,
    interval: float = typer.Option(1.0, "--interval", min=0.05, help="Seconds between refreshes."),
    count: int | None = typer.Option(
        None, "--count", min=1, help="Stop after this many refreshes (default: until Ctrl-C)."
    ),
    output: Output = output_option(),
) -> None:
    """A live view of a group: members, assignment and lag, refreshing in place.

    Run it in one terminal while producers and consumers run in others, and watch partitions move when a consumer joins, leaves or is killed. In a pipe it prints a snapshot per refresh.
    """
    _watch(group, interval, count, output)


def _watch(group: str, interval: float, count: int | None, output: str | None) -> None:
    from kcli import render
    from storage.groups import validate_group_id

    validate_group_id(group)  # before the first refresh
    b = backend()
    render.group_watch(
        lambda: b.group_snapshot(group), group, interval, count, render.resolve(output)
    )


# -- reset and delete ----------------------------------------------------------------------------


@app.command("reset")
def reset(
    group: str = GROUP_ARG,
    topic: str = typer.Option(..., "--topic", "-t", help="The topic whose offsets to move."),
    partition: list[int] | None = typer.Option(
        None, "--partition", "-p", min=0, help="Only this partition (repeatable; default: all)."
    ),
    to_earliest: bool = typer.Option(
        False, "--to-earliest", help="To each partition's log start offset."
    ),
    to_latest: bool = typer.Option(
        False, "--to-latest", help="To each partition's log end offset (skip everything)."
    ),
    to_offset: int | None = typer.Option(None, "--to-offset", min=0, help="To this offset."),
    shift_by: int | None = typer.Option(
        None, "--shift-by", help="By N from the committed offset (negative: re-read N records)."
    ),
    to_datetime: str | None = typer.Option(
        None,
        "--to-datetime",
        help="To the first record at or after this time (2024-05-01T10:30:00Z, -1h, epoch ms).",
    ),
    execute: bool = typer.Option(
        False, "--execute", help="Apply the plan (without it, nothing is changed)."
    ),
    output: Output = output_option(),
) -> None:
    """Move a group's committed offsets, as kafka-consumer-groups --reset-offsets does.

    Prints the plan (current and new offset per partition) and changes nothing unless --execute is given. Refused while the group has live members: stop its consumers first. Offsets outside a partition's log are moved to its nearest end.
    """
    from kcli import render
    from storage.groups import ResetSpec

    chosen = [
        name
        for name, value in (
            ("--to-earliest", to_earliest),
            ("--to-latest", to_latest),
            ("--to-offset", to_offset is not None),
            ("--shift-by", shift_by is not None),
            ("--to-datetime", to_datetime is not None),
        )
        if value
    ]
    if len(chosen) != 1:
        raise typer.BadParameter(
            "give exactly one of --to-earliest, --to-latest, --to-offset N, --shift-by N, "
            "--to-datetime TIME" + (f" (got {', '.join(chosen)})" if chosen else "")
        )
    if to_earliest:
        spec = ResetSpec("earliest")
    elif to_latest:
        spec = ResetSpec("latest")
    elif to_offset is not None:
        spec = ResetSpec("offset", to_offset)
    elif shift_by is not None:
        spec = ResetSpec("shift", shift_by)
    else:
        from kcli.timeparse import parse_time

        spec = ResetSpec("datetime", parse_time(to_datetime))
    plan = backend().reset_offsets(
        group, topic, spec, sorted(set(partition)) if partition else None, execute=execute
    )
    render.group_reset(group, plan, render.resolve(output), executed=execute)


@app.command("delete")
def delete(group: str = GROUP_ARG) -> None:
    """Delete a group: its committed offsets and its state.

    Refused while the group has live members, as in Kafka; stop its consumers first.
    """
    from kcli import render

    _groups().delete_group(group)
    render.note(f"Deleted group '{group}'.")


# -- simulate ------------------------------------------------------------------------------------


@app.command("simulate")
def simulate(
    partitions: int = typer.Option(
        ..., "--partitions", "-p", min=1, max=10_000, help="Partitions per topic."
    ),
    consumers: int = typer.Option(..., "--consumers", "-c", min=1, max=1000, help="Group members."),
    topics: int = typer.Option(
        1, "--topics", min=1, max=100, help="Topics the group subscribes to (t0, t1, ...)."
    ),
    leaving: int = typer.Option(
        0, "--leaving", min=0, help="Which consumer leaves in the 'leaves' scenario (its number)."
    ),
    output: Output = output_option(),
) -> None:
    """Compare the assignors side by side: range, roundrobin and sticky.

    Shows who gets which partitions, then what each assignor moves when one more consumer joins, and then when one leaves. Member ids are consumer-0, consumer-1, ... (sorted as Kafka sorts them). A pure simulation: no store is touched.
    """
    from kcli import render
    from storage.assignor_simulation import simulate as run

    if partitions * topics > 10_000:
        raise typer.BadParameter(
            f"{partitions} partitions x {topics} topics is too many; keep it to 10000 in all"
        )
    if leaving >= consumers:
        raise typer.BadParameter(
            f"--leaving must name one of the {consumers} consumers: 0..{consumers - 1}"
        )
    results = run(partitions, consumers, topics, leaving=leaving)
    render.group_simulation(results, partitions, consumers, topics, render.resolve(output))
