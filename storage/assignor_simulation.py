"""``kcli group simulate``: the assignors compared on a join and a leave, without running a group.

Pure functions of their inputs, like the assignors they run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from storage.assignors import RANGE, ROUNDROBIN, STICKY, TP, Subscription, assign


def moved_partitions(before: Mapping[str, Iterable[TP]], after: Mapping[str, Iterable[TP]]) -> int:
    """How many partitions have a different owner in ``after`` than in ``before``."""
    owner_before = {tp: m for m, tps in before.items() for tp in tps}
    owner_after = {tp: m for m, tps in after.items() for tp in tps}
    return sum(1 for tp, m in owner_after.items() if owner_before.get(tp) != m)


@dataclass(frozen=True)
class SimulatedAssignor:
    """One assignor's results in a simulation: the start, a join and a leave."""

    assignor: str
    members: tuple[str, ...]
    assignment: dict[str, list[TP]]
    joined_member: str
    after_join: dict[str, list[TP]]
    moved_on_join: int
    leaving_member: str
    after_leave: dict[str, list[TP]]
    moved_on_leave: int
    # The partitions that had to move: the ones this assignor gave the newcomer, or the ones
    # the leaver owned.  Anything moved beyond them was reshuffled.
    min_moves_on_join: int
    min_moves_on_leave: int


def simulate(
    partitions: int, consumers: int, topics: int = 1, *, leaving: int = 0
) -> list[SimulatedAssignor]:
    """Assign ``topics`` topics of ``partitions`` partitions each to ``consumers`` members with
    every assignor; then add one member, and then remove member number ``leaving``.

    Members are named ``consumer-0``... (zero-padded so that the member-id order is the
    numeric order) and topics ``t0``, ``t1``...
    """
    width = len(str(consumers))
    names = [f"consumer-{i:0{width}d}" for i in range(consumers + 1)]
    members, joiner = names[:consumers], names[consumers]
    topic_names = [f"t{i}" for i in range(topics)]
    per_topic = dict.fromkeys(topic_names, partitions)
    leaver = members[leaving]
    results = []
    for name in (RANGE, ROUNDROBIN, STICKY):

        def run(prev: Mapping[str, list[TP]], group: list[str], _name: str = name):
            subs = {m: Subscription(tuple(topic_names), tuple(prev.get(m, ()))) for m in group}
            return assign(_name, per_topic, subs)

        start = run({}, members)
        joined = run(start, [*members, joiner])
        # The leave follows the join, so the member that just joined is still there.
        left = run(joined, [m for m in [*members, joiner] if m != leaver])
        results.append(
            SimulatedAssignor(
                assignor=name,
                members=tuple(members),
                assignment=start,
                joined_member=joiner,
                after_join=joined,
                moved_on_join=moved_partitions(start, joined),
                leaving_member=leaver,
                after_leave=left,
                moved_on_leave=moved_partitions(joined, left),
                min_moves_on_join=len(joined.get(joiner, [])),
                min_moves_on_leave=len(joined.get(leaver, [])),
            )
        )
    return results
