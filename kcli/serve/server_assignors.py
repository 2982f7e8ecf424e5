"""The consumer protocol's server-side assignors (KIP-848): ``uniform`` and ``range``.

With ``group.protocol=consumer`` the group coordinator computes the assignment itself, with
the assignor the members ask for (``group.remote.assignor``) among those the broker offers
(``group.consumer.assignors``; the first is the default).  An assignor maps the members'
subscriptions and the subscribed topics' partition counts, and the group's previous target
assignment, to a new target assignment.

- ``uniform`` (Kafka's ``UniformAssignor``): as even as the subscriptions allow, and sticky:
  a member keeps what it had in the previous target wherever balance permits.
- ``range`` (Kafka's server-side ``RangeAssignor``): per topic, contiguous ranges of
  partitions to the members subscribed to it in member-id order, so that members subscribed
  to co-partitioned topics get the same partition numbers of each.
"""

from __future__ import annotations

from collections.abc import Mapping

TopicPartition = tuple[str, int]
Assignment = dict[str, set[TopicPartition]]

UNIFORM = "uniform"
RANGE = "range"
SERVER_ASSIGNORS = (UNIFORM, RANGE)


def assign(
    assignor: str,
    subscriptions: Mapping[str, frozenset[str]],
    partitions: Mapping[str, int],
    previous: Mapping[str, set[TopicPartition]],
) -> Assignment:
    """The target assignment of ``assignor`` for members ``subscriptions`` (member id ->
    subscribed topics) on topics ``partitions`` (topic -> partition count; a subscribed topic
    missing from it does not exist and is left out)."""
    if assignor == RANGE:
        return range_assign(subscriptions, partitions)
    if assignor == UNIFORM:
        return uniform_assign(subscriptions, partitions, previous)
    raise ValueError(f"unknown server assignor '{assignor}'")


def range_assign(
    subscriptions: Mapping[str, frozenset[str]], partitions: Mapping[str, int]
) -> Assignment:
    out: Assignment = {m: set() for m in subscriptions}
    topics = sorted({t for topics in subscriptions.values() for t in topics if t in partitions})
    for topic in topics:
        members = sorted(m for m, subscribed in subscriptions.items() if topic in subscribed)
        count = partitions[topic]
        quota, extra = divmod(count, len(members))
        start = 0
        for i, member in enumerate(members):
            size = quota + (1 if i < extra else 0)
            out[member].update((topic, p) for p in range(start, start + size))
            start += size
    return out


def uniform_assign(
    subscriptions: Mapping[str, frozenset[str]],
    partitions: Mapping[str, int],
    previous: Mapping[str, set[TopicPartition]],
) -> Assignment:
    members = sorted(subscriptions)
    out: Assignment = {m: set() for m in members}
    if not members:
        return out
    eligible = {
        (t, p): [m for m in members if t in subscriptions[m]]
        for t in sorted({t for s in subscriptions.values() for t in s if t in partitions})
        for p in range(partitions[t])
    }
    # How many partitions each member would have were everything spread evenly among those
    # who can take it: a member keeps no more than this of its previous target.
    fair = {m: 0.0 for m in members}
    for candidates in eligible.values():
        for m in candidates:
            fair[m] += 1 / len(candidates)
    owner: dict[TopicPartition, str] = {}
    for member in members:
        kept = sorted(tp for tp in previous.get(member, ()) if tp in eligible and tp not in owner)
        for tp in kept[: _ceil(fair[member])]:
            if member in eligible[tp]:
                owner[tp] = member
                out[member].add(tp)
    for tp, candidates in eligible.items():
        if tp not in owner and candidates:
            member = min(candidates, key=lambda m: (len(out[m]), m))
            owner[tp] = member
            out[member].add(tp)
    _balance(out, eligible)
    return out


def _balance(out: Assignment, eligible: Mapping[TopicPartition, list[str]]) -> None:
    """Move partitions from the fullest members to the emptiest while that evens them out."""
    moved = True
    while moved:
        moved = False
        for giver in sorted(out, key=lambda m: (-len(out[m]), m)):
            for tp in sorted(out[giver]):
                taker = min(eligible[tp], key=lambda m: (len(out[m]), m))
                if len(out[giver]) - len(out[taker]) > 1:
                    out[giver].discard(tp)
                    out[taker].add(tp)
                    moved = True
                    break
            if moved:
                break


def _ceil(x: float) -> int:
    whole = int(x)
    return whole if x - whole < 1e-9 else whole + 1
