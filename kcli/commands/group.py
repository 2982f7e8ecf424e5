"""`kcli group`: list, describe, watch, reset, delete and simulate consumer groups."""

from __future__ import annotations

import time

import typer

from kcli.commands._common import Output, backend, output_option

app = typer.Typer(
    help="Consumer groups: which member reads which partitions, how far each partition's "
    "committed offset is behind the log end (lag), and what a rebalance moves.",
    no_args_is_help=True,
)

GROUP_ARG = typer.Argument(..., help="The group id (what consumers pass as --group / group.id).")


def _groups():
    """The groups of the local store or of the cluster (the same methods either way)."""
    return backend().groups()


# -- list --------------------------------------------------------------------------------------


@app.command("list")
def list_groups(output: Output = output_option()) -> None:
    """List the consumer groups: state, number of members, assignor and generation."""
    from kcli import render

    summaries = _groups().list_groups()
    form = render.resolve(output)
    if form == render.JSON:
        for s in summaries:
            render.json_line(
                {
                    "group": s.group,
                    "state": s.state,
                    "members": s.members,
                    "assignor": s.assignor,
                    "generation": s.generation,
                }
            )
        return
    if form == render.PLAIN:
        render.plain_rows(
            (s.group, s.state, s.members, s.assignor, _dash(s.generation)) for s in summaries
        )
        return
    if not summaries:
        render.note("No consumer groups yet. Start one with: kcli consume TOPIC --group NAME")
        return
    from rich.text import Text

    t = _table(["GROUP", "STATE", "MEMBERS", "ASSIGNOR", "GENERATION", "COORDINATOR"], {2, 4})
    for s in summaries:
        t.add_row(
            Text(s.group, style="bold"),
            _state_text(s.state),
            Text(str(s.members)),
            Text(s.assignor or "-"),
            Text(_dash(s.generation)),
            Text(s.coordinator, style="dim"),
        )
    render.console().print(t)


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

    The columns are those of Kafka's kafka-consumer-groups --describe. Members that own
    nothing (more members than partitions) are listed as idle.
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
        _render_state(desc, form)
    elif members:
        _render_members(desc, form)
    else:
        _render_partitions(desc, gs.partition_offsets(group), form)
        if form == render.TABLE:
            _state_hint(desc)


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

    Run it in one terminal while producers and consumers run in others, and watch partitions
    move when a consumer joins, leaves or is killed. In a pipe it prints a snapshot per refresh.
    """
    _watch(group, interval, count, output)


def _watch(group: str, interval: float, count: int | None, output: str | None) -> None:
    from kcli import render
    from storage.groups import validate_group_id

    validate_group_id(group)  # before the first refresh
    gs = _groups()
    form = render.resolve(output)
    try:
        if form == render.TABLE:
            from rich.live import Live

            with Live(
                _watch_view(gs, group, interval),
                console=render.console(),
                auto_refresh=False,
                transient=False,
            ) as live:
                n = 1
                while count is None or n < count:
                    time.sleep(interval)
                    live.update(_watch_view(gs, group, interval), refresh=True)
                    n += 1
            return
        n = 0
        while count is None or n < count:
            if n:
                time.sleep(interval)
                if form == render.PLAIN:
                    render.line()
            _print_snapshot(gs, group, form)
            n += 1
    except KeyboardInterrupt:
        return


def _print_snapshot(gs, group: str, form: str) -> None:
    import sys

    from storage.groups import GroupNotFound

    try:
        desc = gs.describe_group(group)
        rows = gs.partition_offsets(group)
    except GroupNotFound:
        from kcli import render

        render.note(f"group '{group}' does not exist yet; waiting for it")
        return
    _render_partitions(desc, rows, form)
    sys.stdout.flush()


def _watch_view(gs, group: str, interval: float):
    from rich.console import Group
    from rich.text import Text

    from storage.groups import GroupNotFound

    stamp = time.strftime("%H:%M:%S")
    try:
        desc = gs.describe_group(group)
        rows = gs.partition_offsets(group)
    except GroupNotFound:
        return Text.assemble(
            (f"{stamp}  ", "dim"),
            f"group '{group}' does not exist yet; waiting for a consumer to join it",
            ("  (Ctrl-C to stop)", "dim"),
        )
    header = Text.assemble(
        (f"{stamp}  ", "dim"),
        _header_line(desc),
        (f"  refresh {interval:g}s, Ctrl-C to stop", "dim"),
    )
    return Group(header, _partitions_table(desc, rows), _members_table(desc))


# -- rendering -----------------------------------------------------------------------------------


# Columns whose values may be folded over several lines when the terminal is narrow (long
# member ids first); the others keep their header on one line (CURRENT-OFFSET, not CURR/ENT).
_FOLDABLE = frozenset({"CONSUMER-ID", "ASSIGNMENT", "CLIENT-ID", "RANGE", "ROUNDROBIN", "STICKY"})


def _table(columns: list[str], right: set[int] = frozenset(), footer: bool = False):
    from rich import box
    from rich.table import Table

    t = Table(box=box.SIMPLE_HEAD, pad_edge=False, header_style="bold", show_footer=footer)
    for i, name in enumerate(columns):
        t.add_column(
            name,
            justify="right" if i in right else "left",
            overflow="fold",
            no_wrap=name not in _FOLDABLE,
            min_width=len(name) if name not in _FOLDABLE else None,
        )
    return t


def _state_text(state: str):
    from rich.text import Text

    style = {
        "Stable": "green",
        "Empty": "dim",
        "PreparingRebalance": "yellow",
        "CompletingRebalance": "yellow",
        "Dead": "red",
    }.get(state, "")
    return Text(state, style=style)


def _lag_text(lag: int | None):
    from rich.text import Text

    if lag is None:
        return Text("-", style="dim")
    if lag <= 0:
        return Text(str(lag), style="green")
    return Text(str(lag), style="red" if lag >= 1000 else "yellow")


def _dash(value) -> str:
    return "-" if value is None else str(value)


def _assignment_str(assignment) -> str:
    return ", ".join(f"{t}-{p}" for t, p in assignment)


def _partition_json(group: str, r) -> dict:
    return {
        "group": group,
        "topic": r.topic,
        "partition": r.partition,
        "committed_offset": r.committed_offset,
        "log_end_offset": r.log_end_offset,
        "lag": r.lag,
        "member_id": r.member_id,
        "client_id": r.client_id,
        "host": r.host,
    }


def _render_partitions(desc, rows, form: str) -> None:
    from kcli import render

    if form == render.JSON:
        for r in rows:
            render.json_line(_partition_json(desc.group, r))
        return
    if form == render.PLAIN:
        out = [
            (
                desc.group,
                r.topic,
                r.partition,
                _dash(r.committed_offset),
                r.log_end_offset,
                _dash(r.lag),
                _dash(r.member_id),
                _dash(r.host),
                _dash(r.client_id),
            )
            for r in rows
        ]
        out += [
            (desc.group, "-", "-", "-", "-", "-", m.member_id, m.host, m.client_id)
            for m in desc.members
            if not m.assignment and desc.state == "Stable"
        ]
        render.plain_rows(out)
        return
    render.console().print(_header_line(desc))
    render.console().print(_partitions_table(desc, rows))


def _partitions_table(desc, rows):
    """Kafka's describe columns; on a terminal too narrow for them, a compact form: short
    member ids (which start with the client id), two-line headers, and no GROUP and CLIENT-ID
    columns (the header line names the group)."""
    t = _build_partitions_table(desc, rows, compact=False)
    if _too_wide(t):
        t = _build_partitions_table(desc, rows, compact=True)
    return t


def _too_wide(table) -> bool:
    from rich.measure import Measurement

    from kcli import render

    con = render.console()
    return Measurement.get(con, con.options.update(width=10_000), table).maximum > con.width


def _short_id(member_id: str | None, client_id: str | None, compact: bool) -> str:
    """A member id as shown: whole, or (compact) the client id and 7 hex digits, like a
    short git hash."""
    if member_id is None:
        return "-"
    if compact and client_id and member_id.startswith(client_id + "-"):
        return member_id[: len(client_id) + 8] + "…"
    return member_id


def _build_partitions_table(desc, rows, *, compact: bool):
    from rich.text import Text

    names = [
        "GROUP",
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
        "CONSUMER-ID",
        "HOST",
        "CLIENT-ID",
    ]
    t = _table(names, {2, 3, 4, 5}, footer=True)
    if compact:
        t.columns.pop(8)
        t.columns.pop(0)
        for col in t.columns:
            if str(col.header).endswith("-OFFSET"):
                col.header = str(col.header).replace("-OFFSET", "-\nOFFSET")
            col.min_width = None
            col.no_wrap = True
    first = 0 if compact else 1  # index of TOPIC
    lags = [r.lag for r in rows if r.lag is not None]
    t.columns[first + 3].footer = Text("total" if compact else "total lag", style="bold")
    t.columns[first + 4].footer = _lag_text(sum(lags) if lags else None)
    lead = [] if compact else [Text(desc.group)]
    for r in rows:
        t.add_row(
            *lead,
            Text(r.topic),
            Text(str(r.partition)),
            Text(_dash(r.committed_offset), style="" if r.committed_offset is not None else "dim"),
            Text(str(r.log_end_offset)),
            _lag_text(r.lag),
            Text(
                _short_id(r.member_id, r.client_id, compact),
                style="" if r.member_id else "dim",
            ),
            Text(_dash(r.host), style="" if r.host else "dim"),
            *([] if compact else [Text(_dash(r.client_id), style="" if r.client_id else "dim")]),
        )
    if desc.state == "Stable":
        dash = Text("-", style="dim")
        for m in desc.members:
            if not m.assignment:
                t.add_row(
                    *([] if compact else [Text(desc.group, style="dim")]),
                    Text("(idle)", style="yellow"),
                    dash,
                    dash,
                    dash,
                    dash,
                    Text(_short_id(m.member_id, m.client_id, compact)),
                    Text(m.host),
                    *([] if compact else [Text(m.client_id)]),
                )
    return t


def _header_line(desc):
    from rich.text import Text

    return Text.assemble(
        ("group ", "dim"),
        (desc.group, "bold"),
        "  ",
        _state_text(desc.state),
        (f"  assignor {desc.assignor or '-'}  generation {_dash(desc.generation)}  ", "dim"),
        f"{len(desc.members)} member(s)",
    )


def _state_hint(desc) -> None:
    from kcli import render

    idle = [m for m in desc.members if not m.assignment]
    if desc.state == "Empty":
        render.note(f"Group '{desc.group}' has no active members (state Empty).")
    elif desc.state != "Stable":
        render.note(
            f"Group '{desc.group}' is rebalancing ({desc.state}): partitions show their new "
            f"owners once it is Stable."
        )
    elif idle:
        render.note(
            f"{len(idle)} member(s) idle: the group has more members than partitions to share."
        )


def _render_members(desc, form: str) -> None:
    from kcli import render

    if form == render.JSON:
        for m in desc.members:
            render.json_line(
                {
                    "group": desc.group,
                    "member_id": m.member_id,
                    "client_id": m.client_id,
                    "host": m.host,
                    "generation": desc.generation,
                    "assignment": [{"topic": t, "partition": p} for t, p in m.assignment],
                }
            )
        return
    if form == render.PLAIN:
        render.plain_rows(
            (
                desc.group,
                m.member_id,
                m.client_id,
                m.host,
                _dash(desc.generation),
                _assignment_str(m.assignment) or "-",
            )
            for m in desc.members
        )
        return
    if not desc.members:
        render.note(f"Group '{desc.group}' has no active members (state {desc.state}).")
        return
    render.console().print(_members_table(desc))


def _members_table(desc):
    t = _build_members_table(desc, compact=False)
    if _too_wide(t):
        t = _build_members_table(desc, compact=True)
    return t


def _build_members_table(desc, *, compact: bool):
    from rich.text import Text

    now = int(time.time() * 1000)
    names = ["CONSUMER-ID", "HOST", "CLIENT-ID", "PID", "#PARTITIONS", "ASSIGNMENT", "HEARTBEAT"]
    if compact:
        names.remove("CLIENT-ID")
    t = _table(names, {2, 3} if compact else {3, 4})
    if compact:
        t.columns[0].no_wrap = True
    stable = desc.state == "Stable"
    for m in desc.members:
        if m.assignment:
            assignment = Text(_assignment_str(m.assignment))
        elif stable:
            assignment = Text("(idle)", style="yellow")
        else:
            assignment = Text("(rebalancing)", style="dim")
        age = (
            "-"
            if m.last_heartbeat_ms < 0
            else f"{max(0, now - m.last_heartbeat_ms) / 1000:.1f}s ago"
        )
        t.add_row(
            Text(_short_id(m.member_id, m.client_id, compact)),
            Text(m.host),
            *([] if compact else [Text(m.client_id)]),
            Text(_dash(m.pid)),
            Text(str(len(m.assignment))),
            assignment,
            Text(age, style="dim"),
        )
    return t


def _render_state(desc, form: str) -> None:
    from kcli import render

    if form == render.JSON:
        render.json_line(
            {
                "group": desc.group,
                "coordinator": desc.coordinator,
                "assignor": desc.assignor,
                "state": desc.state,
                "generation": desc.generation,
                "members": len(desc.members),
            }
        )
        return
    if form == render.PLAIN:
        render.plain_rows(
            [
                (
                    desc.group,
                    desc.coordinator,
                    desc.assignor or "-",
                    desc.state,
                    _dash(desc.generation),
                    len(desc.members),
                )
            ]
        )
        return
    from rich.text import Text

    t = _table(
        ["GROUP", "COORDINATOR", "ASSIGNMENT-STRATEGY", "STATE", "GENERATION", "#MEMBERS"], {4, 5}
    )
    t.add_row(
        Text(desc.group, style="bold"),
        Text(desc.coordinator),
        Text(desc.assignor or "-"),
        _state_text(desc.state),
        Text(_dash(desc.generation)),
        Text(str(len(desc.members))),
    )
    render.console().print(t)


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

    Prints the plan (current and new offset per partition) and changes nothing unless
    --execute is given. Refused while the group has live members: stop its consumers first.
    Offsets outside a partition's log are moved to its nearest end.
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
    b = backend()
    gs = b.groups()
    b.topic(topic)  # TopicNotFound, with the existing topics as a hint
    gs.check_inactive(group, "reset")
    plan = gs.plan_reset(group, topic, spec, sorted(set(partition)) if partition else None)
    if execute:
        gs.execute_reset(group, plan)
    form = render.resolve(output)
    if form == render.JSON:
        for r in plan:
            render.json_line(
                {
                    "group": group,
                    "topic": r.topic,
                    "partition": r.partition,
                    "committed_offset": r.committed_offset,
                    "new_offset": r.new_offset,
                }
            )
    elif form == render.PLAIN:
        render.plain_rows(
            (group, r.topic, r.partition, _dash(r.committed_offset), r.new_offset) for r in plan
        )
    else:
        from rich.text import Text

        t = _table(["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "NEW-OFFSET"], {2, 3, 4})
        for r in plan:
            moved = r.committed_offset != r.new_offset
            t.add_row(
                Text(group),
                Text(r.topic),
                Text(str(r.partition)),
                Text(
                    _dash(r.committed_offset), style="" if r.committed_offset is not None else "dim"
                ),
                Text(str(r.new_offset), style="bold" if moved else ""),
            )
        render.console().print(t)
    for r in plan:
        if r.clamped:
            render.note(
                f"{r.topic}-{r.partition}: the requested offset is outside the log "
                f"({r.log_start_offset}..{r.log_end_offset}); using {r.new_offset}"
            )
    if execute:
        render.note(f"Reset the committed offsets of {len(plan)} partition(s) of group '{group}'.")
    else:
        render.note("Dry run: nothing was changed. Add --execute to apply this plan.")


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

    Shows who gets which partitions, then what each assignor moves when one more consumer
    joins and when one leaves. Member ids are consumer-0, consumer-1, ... (sorted as Kafka
    sorts them). A pure simulation: no store is touched.
    """
    from kcli import render
    from storage.assignors import simulate as run

    if partitions * topics > 10_000:
        raise typer.BadParameter(
            f"{partitions} partitions x {topics} topics is too many; keep it to 10000 in all"
        )
    if leaving >= consumers:
        raise typer.BadParameter(
            f"--leaving must name one of the {consumers} consumers: 0..{consumers - 1}"
        )
    results = run(partitions, consumers, topics, leaving=leaving)
    form = render.resolve(output)
    if form == render.JSON:
        for r in results:
            render.json_line(_simulation_json(r, partitions, consumers, topics))
        return
    if form == render.PLAIN:
        _simulation_plain(results)
        return
    _simulation_tables(results, partitions, consumers, topics)


def _members_json(assignment) -> list[dict]:
    return [
        {"member_id": m, "partitions": [{"topic": t, "partition": p} for t, p in tps]}
        for m, tps in sorted(assignment.items())
    ]


def _simulation_json(r, partitions: int, consumers: int, topics: int) -> dict:
    return {
        "assignor": r.assignor,
        "partitions": partitions,
        "consumers": consumers,
        "topics": topics,
        "assignment": _members_json(r.assignment),
        "joined_member": r.joined_member,
        "after_join": _members_json(r.after_join),
        "moved_on_join": r.moved_on_join,
        "leaving_member": r.leaving_member,
        "after_leave": _members_json(r.after_leave),
        "moved_on_leave": r.moved_on_leave,
    }


def _simulation_plain(results) -> None:
    from kcli import render

    rows = []
    for scenario, attr in (
        ("start", "assignment"),
        ("join", "after_join"),
        ("leave", "after_leave"),
    ):
        for r in results:
            for member, tps in sorted(getattr(r, attr).items()):
                rows.append((scenario, r.assignor, member, len(tps), _assignment_str(tps) or "-"))
    for r in results:
        rows.append(("moved", r.assignor, "join", r.moved_on_join, r.min_moves_on_join))
        rows.append(("moved", r.assignor, "leave", r.moved_on_leave, r.min_moves_on_leave))
    render.plain_rows(rows)


def _owner_map(assignment) -> dict:
    return {tp: m for m, tps in assignment.items() for tp in tps}


def _cell(tps, before: dict | None, member: str):
    from rich.text import Text

    text = Text()
    if not tps:
        return Text("(idle)", style="yellow")
    by_topic: dict[str, list[int]] = {}
    for t, p in tps:
        by_topic.setdefault(t, []).append(p)
    for i, (topic, ps) in enumerate(by_topic.items()):
        if i:
            text.append("  ")
        text.append(f"{topic}:", style="dim")
        for p in ps:
            moved = before is not None and before.get((topic, p)) != member
            text.append(f" {p}", style="bold yellow" if moved else "")
    text.append(f"  ({len(tps)})", style="dim")
    return text


def _simulation_tables(results, partitions: int, consumers: int, topics: int) -> None:
    from rich.text import Text

    from kcli import render

    con = render.console()
    names = [r.assignor.upper() for r in results]
    topic_desc = "t0" if topics == 1 else f"t0..t{topics - 1}"
    first = results[0]
    scenarios = [
        (
            f"{consumers} consumer(s) share {partitions} partition(s) of {topic_desc}",
            "assignment",
            None,
        ),
        (f"{first.joined_member} joins", "after_join", "moved_on_join"),
    ]
    if consumers > 1:
        scenarios.append((f"{first.leaving_member} leaves", "after_leave", "moved_on_leave"))
    for title, attr, moved_attr in scenarios:
        members = sorted({m for r in results for m in getattr(r, attr)})
        t = _table(["MEMBER", *names], footer=moved_attr is not None)
        for col, r in zip(t.columns[1:], results, strict=True):
            if moved_attr:
                minimum = r.min_moves_on_join if attr == "after_join" else r.min_moves_on_leave
                moved = getattr(r, moved_attr)
                col.footer = Text(
                    f"{moved} (min {minimum})",
                    style="green" if moved == minimum else "yellow",
                )
        if moved_attr:
            t.columns[0].footer = Text("partitions moved", style="bold")
        for member in members:
            cells = []
            for r in results:
                before = _owner_map(r.assignment) if moved_attr else None
                cells.append(_cell(getattr(r, attr).get(member, []), before, member))
            t.add_row(Text(member), *cells)
        con.print(Text(title, style="bold"))
        con.print(t)
    render.note(
        "Highlighted partitions changed owner. kcli (like Kafka's classic 'eager' protocol) "
        "pauses every member during a rebalance; what moves decides how much state and "
        "cache each member loses."
    )
