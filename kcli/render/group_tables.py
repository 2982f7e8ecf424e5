"""The building blocks of ``kcli group``'s tables: the table style, state colours, member
ids and assignments as shown, and fitting a table into the terminal's width."""

from __future__ import annotations

from kcli.render.output import console
from storage.constants import COMPLETING_REBALANCE, DEAD, EMPTY, PREPARING_REBALANCE, STABLE

# Columns whose values may be folded over several lines when the terminal is narrow (long
# member ids first); the others keep their header on one line (CURRENT-OFFSET, not CURR/ENT).
_FOLDABLE = frozenset(
    {"CONSUMER-ID", "ASSIGNMENT", "CLIENT-ID", "RANGE", "ROUNDROBIN", "STICKY"}
    | {"REVOKED", "ASSIGNED", "WAITING"}
)


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
        STABLE: "green",
        EMPTY: "dim",
        PREPARING_REBALANCE: "yellow",
        COMPLETING_REBALANCE: "yellow",
        DEAD: "red",
    }.get(state, "")
    return Text(state, style=style)


def _assignment_str(assignment) -> str:
    return ", ".join(f"{t}-{p}" for t, p in assignment)


# Columns left out, in this order, when even the compact table is wider than the terminal
# (a note under the table names them; `-o plain` always has every column).
_DROPPABLE = ("HOST", "CLIENT-ID", "HEARTBEAT", "PID")


def _fitting(build):
    """``build(compact=False)``; if that is wider than the terminal, ``build(compact=True)``
    with every header kept whole (never ``LA`` for LAG); if even that is too wide, the
    compact table without the first of ``_DROPPABLE`` it needs to lose, and a note saying so.
    """
    from rich.console import Group
    from rich.measure import Measurement
    from rich.text import Text

    con = console()

    def measure(table):
        return Measurement.get(con, con.options.update(width=10_000), table)

    table = _reindexed(build(False))
    if measure(table).maximum <= con.width:
        return table
    table = _reindexed(build(True))
    for col in table.columns:
        col.min_width = max(len(line) for line in str(col.header).split("\n"))
    dropped = []
    for name in _DROPPABLE:
        if measure(table).minimum <= con.width:
            break
        for i, col in enumerate(table.columns):
            if str(col.header) == name:
                table.columns.pop(i)
                dropped.append(name)
                _reindexed(table)
                break
    if not dropped:
        return table
    return Group(
        table,
        Text(
            f"({', '.join(dropped)} left out to fit {con.width} columns; "
            f"-o plain shows every column)",
            style="dim",
        ),
    )


def _reindexed(table):
    """``table`` with its columns numbered by position again.  rich measures a column's padding
    by its number (the last one has no right padding with ``pad_edge=False``); a column taken
    out leaves the others' numbers stale, and the column it then takes for the last one loses
    a character of its header (``CONSUMER-I``)."""
    for i, col in enumerate(table.columns):
        col._index = i
    return table


def _short_id(member_id: str | None, client_id: str | None, compact: bool) -> str:
    """A member id as shown: whole, or (compact) the client id and 7 hex digits, like a
    short git hash."""
    if member_id is None:
        return "-"
    if compact and client_id and member_id.startswith(client_id + "-"):
        return member_id[: len(client_id) + 8] + "…"
    return member_id
