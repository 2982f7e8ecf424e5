"""A consumer-protocol group's state (KIP-848), as the coordinator keeps it in memory.

Three epochs order everything:

- the **group epoch** goes up whenever the group's membership or subscriptions change;
- the **assignment epoch** is the group epoch the current target assignment was computed
  for (kcli computes it at once, so the two are equal outside a heartbeat);
- each member's **member epoch** is the assignment epoch it has reconciled to.

A member moves to a new target in steps (Kafka's ``CurrentAssignmentBuilder``): first it is
told to give up the partitions that its target no longer has (``UNREVOKED_PARTITIONS``, its
epoch unchanged); once its heartbeat shows they are gone it takes the new epoch and the
target's partitions that nobody else still owns; partitions another member has yet to revoke
come later (``UNRELEASED_PARTITIONS``).  So a partition never has two owners, and a member
never stops consuming the partitions it keeps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

TopicPartition = tuple[str, int]

# ListGroups' and ConsumerGroupDescribe's group type of these groups (a classic group's is
# "classic").
CONSUMER_GROUP_TYPE = "consumer"

# ConsumerGroupDescribe's group states (Kafka's ConsumerGroup.ConsumerGroupState).
EMPTY = "Empty"
ASSIGNING = "Assigning"
RECONCILING = "Reconciling"
STABLE = "Stable"
DEAD = "Dead"

# Member states (Kafka's MemberState).
MEMBER_STABLE = "stable"
UNREVOKED_PARTITIONS = "unrevoked_partitions"
UNRELEASED_PARTITIONS = "unreleased_partitions"
UNRELEASED_INSTANCE = "left (static)"

# ConsumerGroupHeartbeat's special member epochs.
JOIN_EPOCH = 0
LEAVE_EPOCH = -1
STATIC_LEAVE_EPOCH = -2


@dataclass
class ConsumerMember:
    """One member of a consumer-protocol group."""

    member_id: str
    instance_id: str | None
    rack_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    subscribed_topic_names: tuple[str, ...] = ()
    subscribed_topic_regex: str | None = None
    server_assignor: str | None = None
    member_epoch: int = 0
    previous_member_epoch: int = -1
    state: str = MEMBER_STABLE
    assigned: set[TopicPartition] = field(default_factory=set)  # it may consume these
    revoking: set[TopicPartition] = field(default_factory=set)  # it must give these up
    revoke_deadline: float = 0.0
    last_heartbeat: float = 0.0
    # What its last response said it owns (None: nothing sent yet), to send only changes.
    sent: frozenset[TopicPartition] | None = None

    def owns(self) -> set[TopicPartition]:
        return self.assigned | self.revoking


@dataclass
class ConsumerGroup:
    """A consumer-protocol group's live state."""

    group_id: str
    group_epoch: int = 0
    assignment_epoch: int = 0
    assignor: str = ""
    members: dict[str, ConsumerMember] = field(default_factory=dict)
    target: dict[str, set[TopicPartition]] = field(default_factory=dict)
    # Partition counts of the subscribed topics the target was computed from.
    partitions: dict[str, int] = field(default_factory=dict)

    @property
    def state(self) -> str:
        if not self.members:
            return EMPTY
        if self.assignment_epoch != self.group_epoch:
            return ASSIGNING
        if any(
            m.member_epoch != self.assignment_epoch or m.state != MEMBER_STABLE
            for m in self.members.values()
        ):
            return RECONCILING
        return STABLE

    def owner_of(self, tp: TopicPartition) -> ConsumerMember | None:
        for member in self.members.values():
            if tp in member.assigned or tp in member.revoking:
                return member
        return None


def subscribed_topics(group: ConsumerGroup, member: ConsumerMember) -> frozenset[str]:
    """The topics ``member`` subscribes to: its names, and the group's known topics its
    regex matches (a regex that does not compile matches nothing)."""
    topics = set(member.subscribed_topic_names)
    if member.subscribed_topic_regex:
        pattern = topic_regex(member.subscribed_topic_regex)
        if pattern is not None:
            topics.update(t for t in group.partitions if pattern.fullmatch(t))
    return frozenset(topics)


def topic_regex(text: str) -> re.Pattern | None:
    try:
        return re.compile(text)
    except re.error:
        return None
