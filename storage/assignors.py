"""Partition assignors: which member of a consumer group reads which partitions.

Ports of the Java client's assignors (``org.apache.kafka.clients.consumer``), so that a group of
kcli processes splits partitions exactly as a group of Kafka consumers with the same member
ids would.  This module is their registry: the names a group's
``partition.assignment.strategy`` may hold, how the group picks one, and ``assign()`` to run
it.  The assignors themselves, one family a module:

* ``range`` (``RangeAssignor``, Kafka's default) and ``roundrobin`` (``RoundRobinAssignor``)
  deal partitions out in member order: ``storage.assignor_range_roundrobin``.
* ``sticky`` (``StickyAssignor``, eager) and ``cooperative-sticky``
  (``CooperativeStickyAssignor``, KIP-429), both ``AbstractStickyAssignor``: as balanced as
  possible while keeping each member's previous partitions: ``storage.assignor_sticky``.

Their inputs and outputs (``Subscription``, ``Assignment``) are in ``storage.assignor_types``
and are handed on from here.  Racks do not exist in kcli, so the rack-aware branches of the
Java code are left out.  Everything here is a pure function of its inputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from storage.assignor_range_roundrobin import range_assign, roundrobin_assign
from storage.assignor_sticky import cooperative_sticky_assign, sticky_assign
from storage.assignor_types import (  # noqa: F401 - handed on with the assignors that take them
    DEFAULT_GENERATION,
    TP,
    Assignment,
    Subscription,
)

RANGE = "range"
ROUNDROBIN = "roundrobin"
STICKY = "sticky"
COOPERATIVE_STICKY = "cooperative-sticky"
ASSIGNORS = (RANGE, ROUNDROBIN, STICKY, COOPERATIVE_STICKY)
# confluent-kafka's (librdkafka's) default partition.assignment.strategy.
DEFAULT_STRATEGY = (RANGE, ROUNDROBIN)
# The assignors that support Kafka's COOPERATIVE rebalance protocol (the rest are EAGER).
COOPERATIVE_ASSIGNORS = (COOPERATIVE_STICKY,)


class UnknownAssignor(ValueError):
    """An assignor name kcli does not implement."""


def assign(
    assignor: str,
    partitions_per_topic: Mapping[str, int],
    subscriptions: Mapping[str, Subscription],
) -> Assignment:
    """Run ``assignor`` for members ``subscriptions`` over topics with the given partition counts.

    Topics a member subscribes to that are missing from ``partitions_per_topic`` (they do not
    exist) are ignored, as Kafka's assignors ignore topics without metadata.  Every member gets
    an entry, possibly empty; each member's partitions are returned sorted.
    """
    if assignor == RANGE:
        result = range_assign(partitions_per_topic, subscriptions)
    elif assignor == ROUNDROBIN:
        result = roundrobin_assign(partitions_per_topic, subscriptions)
    elif assignor == STICKY:
        result = sticky_assign(partitions_per_topic, subscriptions)
    elif assignor == COOPERATIVE_STICKY:
        result = cooperative_sticky_assign(partitions_per_topic, subscriptions).assignment
    else:
        raise UnknownAssignor(f"unknown assignor '{assignor}'; use one of: {', '.join(ASSIGNORS)}")
    return {member: sorted(result.get(member, [])) for member in subscriptions}


def is_cooperative(assignor: str) -> bool:
    """True if ``assignor`` follows the COOPERATIVE rebalance protocol (members keep their
    partitions while the group rebalances), False for EAGER (everyone revokes everything)."""
    return assignor in COOPERATIVE_ASSIGNORS


def revoked_partitions(
    subscriptions: Mapping[str, Subscription], assignment: Mapping[str, Iterable[TP]]
) -> dict[str, list[TP]]:
    """Per member, the partitions it owned but is no longer assigned: what it must revoke.

    In the cooperative protocol a member that revokes anything asks for a follow-up
    rebalance, in which those partitions are free to go to their new owners.
    """
    out = {}
    for member, sub_ in subscriptions.items():
        mine = set(assignment.get(member, ()))
        gone = sorted(tp for tp in sub_.owned if tp not in mine)
        if gone:
            out[member] = gone
    return out


def parse_strategy(value: str | Sequence[str]) -> tuple[str, ...]:
    """``partition.assignment.strategy`` as confluent-kafka takes it: a comma-separated list."""
    names = value.split(",") if isinstance(value, str) else list(value)
    out: list[str] = []
    for raw in names:
        name = raw.strip().lower()
        if not name:
            continue
        if name not in ASSIGNORS:
            raise UnknownAssignor(
                f"unknown partition.assignment.strategy '{raw.strip()}'; use one or more of: "
                f"{', '.join(ASSIGNORS)}"
            )
        if name not in out:
            out.append(name)
    if not out:
        raise UnknownAssignor(
            f"partition.assignment.strategy is empty; use one or more of: {', '.join(ASSIGNORS)}"
        )
    return tuple(out)


def select_protocol(preferences: Mapping[str, Sequence[str]]) -> str | None:
    """The assignor a group uses, chosen as Kafka's coordinator chooses it.

    Candidates are the assignors every member supports; each member votes for the first
    candidate in its own preference order; the most votes win (ties: the preference order of
    the member with the smallest member id).  None when the members have nothing in common.
    """
    if not preferences:
        return None
    members = sorted(preferences)
    candidates = set(preferences[members[0]])
    for member in members[1:]:
        candidates &= set(preferences[member])
    if not candidates:
        return None
    votes: dict[str, int] = {}
    for member in members:
        vote = next(p for p in preferences[member] if p in candidates)
        votes[vote] = votes.get(vote, 0) + 1
    order = [p for p in preferences[members[0]] if p in candidates]
    return max(order, key=lambda p: (votes.get(p, 0), -order.index(p)))
