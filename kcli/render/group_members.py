"""``kcli group describe --members`` and ``--state``: a group's members (with, for a
consumer-protocol group, each member's epoch and target assignment) and its state, as JSON,
plain lines or rich tables."""

from __future__ import annotations

import time

from kcli.render.group_tables import _assignment_str, _fitting, _short_id, _state_text, _table
from kcli.render.output import JSON, PLAIN, _dash, console, json_line, note, plain_rows
from storage.constants import STABLE


def group_members(desc, form: str) -> None:
    """One row per member of a ``GroupDescription``."""

    if form == JSON:
        for m in desc.members:
            json_line(
                {
                    "group": desc.group,
                    "member_id": m.member_id,
                    "group_instance_id": m.group_instance_id,
                    "client_id": m.client_id,
                    "host": m.host,
                    "generation": desc.generation,
                    "assignment": [{"topic": t, "partition": p} for t, p in m.assignment],
                    **_kip848_member_fields(desc, m),
                }
            )
        return
    if form == PLAIN:
        plain_rows(
            (
                desc.group,
                m.member_id,
                m.client_id,
                m.host,
                _dash(desc.generation),
                _assignment_str(m.assignment) or "-",
                # Last, so that the columns scripts already read keep their places.
                m.group_instance_id or "-",
            )
            for m in desc.members
        )
        return
    if not desc.members:
        note(f"Group '{desc.group}' has no active members (state {desc.state}).")
        return
    console().print(members_table(desc))


def _kip848_member_fields(desc, m) -> dict:
    """A consumer-protocol (KIP-848) member's epoch and target assignment, for -o json."""
    if desc.group_type != "consumer":
        return {}
    return {
        "member_epoch": m.member_epoch,
        "target_assignment": None
        if m.target_assignment is None
        else [{"topic": t, "partition": p} for t, p in m.target_assignment],
    }


def members_table(desc):
    """The members as a table that fits the terminal (the watch view shows it too)."""
    return _fitting(lambda compact: _build_members_table(desc, compact=compact))


def _build_members_table(desc, *, compact: bool):
    from rich.text import Text

    now = int(time.time() * 1000)
    names = ["CONSUMER-ID", "HOST", "CLIENT-ID", "PID", "#PARTITIONS", "ASSIGNMENT", "HEARTBEAT"]
    # Kafka's GROUP-INSTANCE-ID column, shown when the group has static members.
    static = any(m.group_instance_id for m in desc.members)
    if static:
        names.insert(1, "GROUP-INSTANCE-ID")
    # A consumer-protocol group (KIP-848): each member's epoch, and its target assignment
    # where it differs from what it owns now (it is still reconciling).
    kip848 = desc.group_type == "consumer"
    epochs = kip848 and any(m.member_epoch is not None for m in desc.members)
    if epochs:
        names.insert(names.index("#PARTITIONS"), "EPOCH")
    if kip848:
        names.insert(names.index("ASSIGNMENT") + 1, "TARGET")
    if compact:
        names.remove("CLIENT-ID")
    right = {names.index("PID"), names.index("#PARTITIONS")} | (
        {names.index("EPOCH")} if epochs else set()
    )
    t = _table(names, right)
    if compact:
        t.columns[0].no_wrap = True
    stable = desc.state == STABLE
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
            *([Text(m.group_instance_id or "-")] if static else []),
            Text(m.host),
            *([] if compact else [Text(m.client_id)]),
            Text(_dash(m.pid)),
            *([Text(_dash(m.member_epoch))] if epochs else []),
            Text(str(len(m.assignment))),
            assignment,
            *([_target_text(m)] if kip848 else []),
            Text(age, style="dim"),
        )
    return t


def _target_text(m):
    """A member's target assignment, or "=" when it owns exactly that (it has reconciled)."""
    from rich.text import Text

    if m.target_assignment is None:
        return Text("-", style="dim")
    if tuple(m.target_assignment) == tuple(m.assignment):
        return Text("=", style="dim")
    return Text(_assignment_str(m.target_assignment) or "(nothing)", style="yellow")


def group_state(desc, form: str) -> None:
    """A group's state, assignor, generation and member count."""

    if form == JSON:
        json_line(
            {
                "group": desc.group,
                "coordinator": desc.coordinator,
                "assignor": desc.assignor,
                "protocol": desc.protocol,
                "state": desc.state,
                "generation": desc.generation,
                "members": len(desc.members),
                # "classic", or "consumer" (KIP-848: generation is then the group epoch)
                "group_type": desc.group_type,
                **(
                    {"assignment_epoch": desc.assignment_epoch}
                    if desc.group_type == "consumer"
                    else {}
                ),
            }
        )
        return
    if form == PLAIN:
        plain_rows(
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
    console().print(t)
