"""Kafka's ``RangeAssignor`` and ``RoundRobinAssignor``: the two assignors that deal partitions
out to the members in member order, without looking at what anyone owned before.

* ``range`` (Kafka's default): per topic, members sorted by member id get contiguous ranges;
  the first ``partitions % members`` members get one extra partition.
* ``roundrobin``: all subscribed partitions sorted by topic and partition, dealt out one at a
  time to the members sorted by member id.

Static members (``group.instance.id``, KIP-345) sort before dynamic ones, by instance id, so
that their partitions survive a restart under a new member id.  Racks do not exist in kcli, so
the rack-aware branch of the Java code is left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from storage.assignor_types import Assignment, Subscription


def _member_order(subscriptions: Mapping[str, Subscription], members: Iterable[str]) -> list[str]:
    """``MemberInfo`` order: static members first, by ``group.instance.id``; then dynamic
    members by member id."""

    def key(member: str) -> tuple[int, str]:
        instance = subscriptions[member].group_instance_id
        return (0, instance) if instance is not None else (1, member)

    return sorted(set(members), key=key)


def range_assign(
    partitions_per_topic: Mapping[str, int], subscriptions: Mapping[str, Subscription]
) -> Assignment:
    """Kafka's RangeAssignor (without racks)."""
    assignment: Assignment = {member: [] for member in subscriptions}
    consumers_per_topic: dict[str, list[str]] = {}
    for member, sub in subscriptions.items():
        for topic in sub.topics:
            consumers_per_topic.setdefault(topic, []).append(member)
    for topic, count in partitions_per_topic.items():
        consumers = _member_order(subscriptions, consumers_per_topic.get(topic, ()))
        if not consumers or count <= 0:
            continue
        per_consumer, extra = divmod(count, len(consumers))
        for i, member in enumerate(consumers):
            start = per_consumer * i + min(i, extra)
            length = per_consumer + (1 if i < extra else 0)
            assignment[member].extend((topic, p) for p in range(start, start + length))
    return assignment


def roundrobin_assign(
    partitions_per_topic: Mapping[str, int], subscriptions: Mapping[str, Subscription]
) -> Assignment:
    """Kafka's RoundRobinAssignor: one circular pass over the members sorted by member id."""
    assignment: Assignment = {member: [] for member in subscriptions}
    members = _member_order(subscriptions, subscriptions)
    if not members:
        return assignment
    topics = sorted({t for sub in subscriptions.values() for t in sub.topics})
    subscribed = {m: set(subscriptions[m].topics) for m in members}
    i = 0
    for topic in topics:
        for p in range(partitions_per_topic.get(topic, 0)):
            while topic not in subscribed[members[i % len(members)]]:
                i += 1
            assignment[members[i % len(members)]].append((topic, p))
            i += 1
    return assignment
