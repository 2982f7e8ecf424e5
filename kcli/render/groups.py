"""``kcli group``: the group list, a group's partitions and the offset-reset plan, as JSON,
plain lines or rich tables.  Members and state are in ``group_members``, the live view in
``group_watch``, the assignor simulation in ``group_simulation``; the tables they share in
``group_tables``."""

# Start-up: kcli.render is imported by every command that prints, a one-record `kcli produce`
# included, so rich's tables, text and live views are imported where they are used.

from __future__ import annotations

from kcli.render.group_tables import (
    _fitting,
    _lag_text,
    _short_id,
    _state_text,
    _table,
)
from kcli.render.output import JSON, PLAIN, TABLE, _dash, console, json_line, note, plain_rows
from storage.constants import EMPTY, STABLE

# -- list ------------------------------------------------------------------------------------


def group_list(summaries, form: str) -> None:
    """``GroupSummary`` values: state, members, assignor, generation, coordinator."""
    if form == JSON:
        for s in summaries:
            json_line(
                {
                    "group": s.group,
                    "state": s.state,
                    "members": s.members,
                    "assignor": s.assignor,
                    "generation": s.generation,
                }
            )
        return
    if form == PLAIN:
        plain_rows(
            (s.group, s.state, s.members, s.assignor, _dash(s.generation)) for s in summaries
        )
        return
    if not summaries:
        note("No consumer groups yet. Start one with: kcli consume TOPIC --group NAME")
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
    console().print(t)


# -- describe --------------------------------------------------------------------------------


def group_describe(desc, rows, form: str) -> None:
    """A group's partitions (``PartitionOffsets`` rows) as Kafka's describe shows them; on a
    table, a note on idle members or a rebalance under way."""
    _render_partitions(desc, rows, form)
    if form == TABLE:
        _state_hint(desc)
    if form != JSON:
        _negative_offsets_note(rows)


def _committed(offset: int | None) -> str:
    """A committed offset as Kafka's tool shows it: "-" for none and for a negative one."""
    return "-" if offset is None or offset < 0 else str(offset)


def _negative_offsets_note(rows) -> None:
    marked = [r for r in rows if r.committed_offset is not None and r.committed_offset < 0]
    if marked:
        shown = ", ".join(f"{r.topic}-{r.partition}={r.committed_offset}" for r in marked[:5])
        note(
            f"Negative committed offsets ({shown}) are shown as '-': a client committed a "
            f"marker, not a position; its consumers start from auto.offset.reset."
        )


# -- partitions ------------------------------------------------------------------------------


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
    if form == JSON:
        for r in rows:
            json_line(_partition_json(desc.group, r))
        return
    if form == PLAIN:
        out = [
            (
                desc.group,
                r.topic,
                r.partition,
                _committed(r.committed_offset),
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
            if not m.assignment and desc.state == STABLE
        ]
        plain_rows(out)
        return
    console().print(_header_line(desc))
    console().print(_partitions_table(desc, rows))


def _partitions_table(desc, rows):
    """Kafka's describe columns; on a terminal too narrow for them, a compact form: short
    member ids (which start with the client id), two-line headers, and no GROUP and CLIENT-ID
    columns (the header line names the group)."""
    return _fitting(lambda compact: _build_partitions_table(desc, rows, compact=compact))


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
            Text(
                _committed(r.committed_offset),
                style="" if _committed(r.committed_offset) != "-" else "dim",
            ),
            Text(str(r.log_end_offset)),
            _lag_text(r.lag),
            Text(
                _short_id(r.member_id, r.client_id, compact),
                style="" if r.member_id else "dim",
            ),
            Text(_dash(r.host), style="" if r.host else "dim"),
            *([] if compact else [Text(_dash(r.client_id), style="" if r.client_id else "dim")]),
        )
    if desc.state == STABLE:
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
        (f"  {desc.assignor or '-'}", "dim"),
        (f" ({desc.protocol})" if desc.protocol else "", "dim"),
        (
            f"  consumer protocol, group epoch {_dash(desc.generation)}  "
            if desc.group_type == "consumer"
            else f"  generation {_dash(desc.generation)}  ",
            "dim",
        ),
        f"{len(desc.members)} member(s)",
    )


def _state_hint(desc) -> None:
    idle = [m for m in desc.members if not m.assignment]
    if desc.state == EMPTY:
        note(f"Group '{desc.group}' has no active members (state Empty).")
    elif desc.state != STABLE:
        note(
            f"Group '{desc.group}' is rebalancing ({desc.state}): partitions show their new "
            f"owners once it is Stable."
        )
    elif idle:
        note(f"{len(idle)} member(s) idle: the group has more members than partitions to share.")


# -- reset -----------------------------------------------------------------------------------


def group_reset(group: str, plan, form: str, *, executed: bool) -> None:
    """An offset-reset plan (``OffsetReset`` rows), its clamped offsets, and whether it was
    applied or is a dry run."""
    if form == JSON:
        for r in plan:
            json_line(
                {
                    "group": group,
                    "topic": r.topic,
                    "partition": r.partition,
                    "committed_offset": r.committed_offset,
                    "new_offset": r.new_offset,
                }
            )
    elif form == PLAIN:
        plain_rows(
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
        console().print(t)
    for r in plan:
        if r.clamped:
            note(
                f"{r.topic}-{r.partition}: the requested offset is outside the log "
                f"({r.log_start_offset}..{r.log_end_offset}); using {r.new_offset}"
            )
    if executed:
        note(f"Reset the committed offsets of {len(plan)} partition(s) of group '{group}'.")
    else:
        note("Dry run: nothing was changed. Add --execute to apply this plan.")
