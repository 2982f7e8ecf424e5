"""``kcli group watch``: a group's partitions, members and last rebalances, refreshed in place
on a terminal, one snapshot after another in a pipe."""

# Start-up: kcli.render is imported by every command that prints, a one-record `kcli produce`
# included, so rich's tables, text and live views are imported where they are used.

from __future__ import annotations

import sys
import time

from kcli.render.group_members import members_table
from kcli.render.group_tables import _assignment_str, _short_id, _table
from kcli.render.groups import _header_line, _partitions_table, _render_partitions
from kcli.render.output import PLAIN, TABLE, console, line, note


def group_watch(snapshot, group: str, interval: float, count: int | None, form: str) -> None:
    """Refresh a group's view every ``interval`` seconds, ``count`` times or until Ctrl-C: in
    place on a table, one snapshot after another otherwise.  ``snapshot()`` gives the group's
    (description, partition rows), or None while the group does not exist."""
    try:
        if form == TABLE:
            from rich.live import Live

            with Live(
                _watch_view(snapshot, group, interval),
                console=console(),
                auto_refresh=False,
                transient=False,
            ) as live:
                n = 1
                while count is None or n < count:
                    time.sleep(interval)
                    live.update(_watch_view(snapshot, group, interval), refresh=True)
                    n += 1
            return
        n = 0
        while count is None or n < count:
            if n:
                time.sleep(interval)
                if form == PLAIN:
                    line()
            _print_snapshot(snapshot, group, form)
            n += 1
    except KeyboardInterrupt:
        return


def _print_snapshot(snapshot, group: str, form: str) -> None:
    snap = snapshot()
    if snap is None:
        note(f"group '{group}' does not exist yet; waiting for it")
        return
    _render_partitions(*snap, form)
    sys.stdout.flush()


def _watch_view(snapshot, group: str, interval: float):
    from rich.console import Group
    from rich.text import Text

    stamp = time.strftime("%H:%M:%S")
    snap = snapshot()
    if snap is None:
        return Text.assemble(
            (f"{stamp}  ", "dim"),
            f"group '{group}' does not exist yet; waiting for a consumer to join it",
            ("  (Ctrl-C to stop)", "dim"),
        )
    desc, rows = snap
    header = Text.assemble((f"{stamp}  ", "dim"), _header_line(desc))
    hint = Text(f"refresh {interval:g}s, Ctrl-C to stop", style="dim")
    if header.cell_len + 2 + hint.cell_len <= console().width:
        parts = [header + "  " + hint, _partitions_table(desc, rows), members_table(desc)]
    else:
        # Too narrow for one line: the hint goes under the tables rather than wrapping the header.
        parts = [header, _partitions_table(desc, rows), members_table(desc), hint]
    if desc.rebalances:
        parts.append(_rebalances_table(desc))
    return Group(*parts)


def _rebalances_table(desc):
    """The group's last rebalances, oldest first: under the cooperative protocol a join shows
    as two generations — the first revokes what moves (it waits, unowned), the second assigns
    it; under the eager one every generation revokes everything."""
    from rich.text import Text

    members = {m.member_id: m.client_id for m in desc.members}

    def who(per_member) -> Text:
        if not per_member:
            return Text("-", style="dim")
        return Text(
            "; ".join(
                f"{_short_id(mid, members.get(mid), True)}: {_assignment_str(tps)}"
                for mid, tps in per_member
            )
        )

    t = _table(["GENERATION", "PROTOCOL", "REVOKED", "ASSIGNED", "WAITING"], {0})
    t.title = "rebalances (latest last)"
    for r in desc.rebalances[-5:]:
        t.add_row(
            Text(str(r.generation)),
            Text(r.protocol),
            who(r.revoked),
            who(r.added),
            Text(_assignment_str(r.waiting) or "-", style="yellow" if r.waiting else "dim"),
        )
    return t
