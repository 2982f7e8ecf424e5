"""The rules of Kafka's classic rebalance protocols, over a group's member records.

Two protocols (``ConsumerPartitionAssignor.RebalanceProtocol``):

* **eager** — when the group rebalances, every member revokes all its partitions before it
  rejoins; the new assignment is handed out once everyone has rejoined.  Nobody reads anything
  in between: a stop-the-world pause for the whole group.
* **cooperative** (KIP-429) — members keep their partitions and keep reading them while the
  group rebalances.  A member rejoins reporting what it owns and the generation it owned it
  in; the assignor (``cooperative-sticky``) leaves out every partition that must change owner,
  so the member that owns one only revokes it; having revoked something, it rejoins at once,
  and that follow-up rebalance assigns the freed partitions.  Two rounds, and only the
  partitions that move are ever paused.

A group uses the cooperative protocol when its assignor supports it (all its members then do:
kcli refuses to mix cooperative-sticky with eager assignors, as librdkafka does).

Static membership (KIP-345): a member with a ``group.instance.id`` that comes back under a new
member id — a restart — takes over its old member's place and partitions without a rebalance
and without a new generation, as long as it comes back within ``session.timeout.ms`` (and with
the same subscription).  The old member id is fenced.

Pure functions over the plain records of ``state.json``; the coordinator
(``storage.group_membership``) applies them under the group's lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from storage.assignors import DEFAULT_GENERATION, Subscription, is_cooperative

EAGER = "eager"
COOPERATIVE = "cooperative"

TP = tuple[str, int]


def rebalance_protocol(assignor: str) -> str:
    """``eager`` or ``cooperative``: how a group using ``assignor`` rebalances."""
    return COOPERATIVE if is_cooperative(assignor) else EAGER


def member_protocol(assignors: Sequence[str]) -> str:
    """The protocol a member asks for: cooperative only if every assignor it lists supports it
    (``ConsumerCoordinator`` picks the highest protocol all its assignors have in common)."""
    return COOPERATIVE if assignors and all(is_cooperative(a) for a in assignors) else EAGER


def subscriptions(
    members: Mapping[str, Mapping[str, Any]],
    assignment: Mapping[str, Iterable[Sequence[Any]]],
    generation: int,
) -> dict[str, Subscription]:
    """What each member tells the assignor (``ConsumerProtocolSubscription``).

    A cooperative member reports the partitions it owns and their generation when it rejoins
    (``owned``, ``owned_generation`` in its record).  An eager member has revoked everything by
    then; what it owned is the group's previous assignment, in the group's generation (what
    the eager sticky assignor keeps in its user data).
    """
    out = {}
    for mid, m in members.items():
        if m.get("owned") is not None:
            owned = tuple((str(t), int(p)) for t, p in m["owned"])
            owned_generation = int(m.get("owned_generation", DEFAULT_GENERATION))
        elif mid in assignment:
            owned = tuple((str(t), int(p)) for t, p in assignment[mid])
            owned_generation = generation
        else:
            owned, owned_generation = (), DEFAULT_GENERATION
        out[mid] = Subscription(
            tuple(m["topics"]),
            owned,
            owned_generation if owned else DEFAULT_GENERATION,
            m.get("instance_id"),
        )
    return out


def rejoin_changes_metadata(current: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
    """True if a known member's rejoin changes what the assignor would be told — its topics,
    its assignors, or (cooperative) the partitions it owns — so the group must rebalance.

    This is how a cooperative member that revoked partitions starts the follow-up rebalance:
    it rejoins owning less (Kafka's coordinator compares the protocol metadata the same way).
    """
    if current["topics"] != record["topics"] or current["assignors"] != record["assignors"]:
        return True
    old, new = current.get("owned"), record.get("owned")
    if new is None:
        return False
    return sorted(map(tuple, old or ())) != sorted(map(tuple, new))


def static_member(members: Mapping[str, Mapping[str, Any]], instance_id: str | None) -> str | None:
    """The member id currently holding ``group.instance.id`` ``instance_id``, if any."""
    if not instance_id:
        return None
    for mid, m in members.items():
        if m.get("instance_id") == instance_id:
            return mid
    return None


def replace_static_member(
    members: dict[str, dict[str, Any]],
    assignment: dict[str, list[list[Any]]],
    old_member_id: str,
    new_member_id: str,
    record: dict[str, Any],
) -> bool:
    """A static member is back under a new member id: it takes over the old one's place and
    its partitions in the current generation.  Returns True if the group must rebalance anyway
    (the subscription changed, so the old assignment may not fit)."""
    old = members.pop(old_member_id)
    record["joined_ms"] = old.get("joined_ms", record.get("joined_ms"))
    members[new_member_id] = record
    if old_member_id in assignment:
        assignment[new_member_id] = assignment.pop(old_member_id)
    return old["topics"] != record["topics"] or old["assignors"] != record["assignors"]


# How many completed rebalances a group's state keeps, for ``kcli group watch``.
REBALANCE_HISTORY = 8


def rebalance_record(
    generation: int,
    assignor: str,
    subs: Mapping[str, Subscription],
    assignment: Mapping[str, Iterable[TP]],
    completed_ms: int,
) -> dict[str, Any]:
    """What one completed rebalance did, for ``state.json`` (plain JSON).

    ``revoked``: per member, the partitions it gave up for this generation (eager: everything
    it owned, before it rejoined; cooperative: only what moves, after).  ``added``: per member,
    the partitions it was given that it did not own.  ``waiting``: partitions nobody owns in
    this generation because their owner is still revoking them (the follow-up rebalance assigns
    them).
    """
    protocol = rebalance_protocol(assignor)
    revoked: dict[str, list[list[Any]]] = {}
    added: dict[str, list[list[Any]]] = {}
    given = {tp for tps in assignment.values() for tp in tps}
    for mid, sub_ in sorted(subs.items()):
        mine = set(assignment.get(mid, ()))
        owned = set(sub_.owned)
        gone = sorted(owned) if protocol == EAGER else sorted(owned - mine)
        new = sorted(mine) if protocol == EAGER else sorted(mine - owned)
        if gone:
            revoked[mid] = [list(tp) for tp in gone]
        if new:
            added[mid] = [list(tp) for tp in new]
    waiting = sorted({tuple(tp) for tps in revoked.values() for tp in tps} - given)
    return {
        "generation": generation,
        "protocol": protocol,
        "assignor": assignor,
        "completed_ms": completed_ms,
        "revoked": revoked,
        "added": added,
        "waiting": [list(tp) for tp in waiting] if protocol == COOPERATIVE else [],
    }


def incremental_change(owned: Iterable[TP], assigned: Iterable[TP]) -> tuple[list[TP], list[TP]]:
    """A cooperative member's view of a new assignment (``onJoinComplete``): the partitions to
    revoke (owned, not assigned) and the partitions added (assigned, not owned), each sorted."""
    owned_set, assigned_set = set(owned), set(assigned)
    return sorted(owned_set - assigned_set), sorted(assigned_set - owned_set)
