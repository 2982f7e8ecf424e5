"""The values every partition assignor takes and returns.

A member's ``Subscription`` (Kafka's ``ConsumerProtocolSubscription``) and the ``Assignment``
an assignor computes from all of them.  ``storage.assignors`` hands these names on with the
assignors themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

TP = tuple[str, int]

# AbstractStickyAssignor.DEFAULT_GENERATION: a member that owned nothing in any generation.
DEFAULT_GENERATION = -1


@dataclass(frozen=True)
class Subscription:
    """What one member tells the assignor (Kafka's ``ConsumerProtocolSubscription``): its
    topics, the partitions it owned before, the generation it owned them in, and its
    ``group.instance.id`` if it is a static member."""

    topics: tuple[str, ...]
    owned: tuple[TP, ...] = ()
    generation: int = DEFAULT_GENERATION
    group_instance_id: str | None = None


Assignment = dict[str, list[TP]]
