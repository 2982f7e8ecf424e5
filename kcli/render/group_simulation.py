"""``kcli group simulate``: the assignors side by side, and what moves when a consumer joins
and when one leaves."""

# Start-up: kcli.render is imported by every command that prints, a one-record `kcli produce`
# included, so rich's tables, text and live views are imported where they are used.

from __future__ import annotations

from kcli.render.group_tables import _assignment_str, _table
from kcli.render.output import JSON, PLAIN, console, json_line, note, plain_rows


def group_simulation(results, partitions: int, consumers: int, topics: int, form: str) -> None:
    """The assignors side by side (``storage.assignors.simulate`` results): who gets what,
    and what moves when a consumer joins and when one leaves."""
    if form == JSON:
        for r in results:
            json_line(_simulation_json(r, partitions, consumers, topics))
        return
    if form == PLAIN:
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
    plain_rows(rows)


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

    con = console()
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
        (f"then {first.leaving_member} leaves", "after_leave", "moved_on_leave"),
    ]
    # Each change starts from the one before: the leave from the group after the join.
    previous = {"after_join": "assignment", "after_leave": "after_join"}
    for title, attr, moved_attr in scenarios:
        members = sorted({m for r in results for m in getattr(r, attr)})
        t = _table(["MEMBER", *names], footer=moved_attr is not None)
        for col, r in zip(t.columns[1:], results, strict=True):
            if moved_attr:
                minimum = r.min_moves_on_join if attr == "after_join" else r.min_moves_on_leave
                moved = getattr(r, moved_attr)
                col.footer = Text(
                    f"{moved} ({minimum} had to)",
                    style="green" if moved == minimum else "yellow",
                )
        if moved_attr:
            t.columns[0].footer = Text("partitions moved", style="bold")
        # Who owned each partition before: once per assignor, not once per member.
        befores = [_owner_map(getattr(r, previous[attr])) if moved_attr else None for r in results]
        for member in members:
            cells = [
                _cell(getattr(r, attr).get(member, []), before, member)
                for r, before in zip(results, befores, strict=True)
            ]
            t.add_row(Text(member), *cells)
        con.print(Text(title, style="bold"))
        con.print(t)
    note(
        "Highlighted partitions changed owner. kcli (like Kafka's classic 'eager' protocol) "
        "pauses every member during a rebalance; what moves decides how much state and "
        "cache each member loses."
    )
