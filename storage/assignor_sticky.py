"""Kafka's ``StickyAssignor`` (eager) and ``CooperativeStickyAssignor``, both
``AbstractStickyAssignor``: as balanced as possible while keeping as many of each member's
previous partitions as possible.

A member's claim to a partition it owned counts only if no member of a later generation claims
it too; two claims from the same generation cancel out.  When every member subscribes to the
same topics the constrained algorithm runs (``ConstrainedAssignmentBuilder``), otherwise the
general one (``GeneralAssignmentBuilder``).

``cooperative-sticky`` then removes from the assignment every partition that moves from one
member to another: its owner revokes it in this rebalance, and it is assigned in the follow-up
rebalance that the revocation causes (KIP-429).  So no partition is ever given to a member
while another still owns it, and the partitions a member keeps are never paused.  Racks do not
exist in kcli, so the rack-aware branches of the Java code are left out.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from storage.assignor_types import DEFAULT_GENERATION, TP, Assignment, Subscription
from storage.java_hash_order import java_hashmap_order, java_hashset_first


@dataclass(frozen=True)
class StickyResult:
    """An ``AbstractStickyAssignor`` run: the assignment, and its
    ``partitionsTransferringOwnership`` — each partition given to a member other than the one
    that owned it, with its new owner (``None`` from the general algorithm, which does not
    keep track; the cooperative assignor then works it out from the owned partitions)."""

    assignment: Assignment
    transferring: dict[TP, str] | None


@dataclass(frozen=True)
class CooperativeResult:
    """A ``CooperativeStickyAssignor`` run: the assignment of this rebalance (without the
    partitions that change owner) and the partitions held back for the follow-up rebalance,
    with the member each will then go to."""

    assignment: Assignment
    transferring: dict[TP, str]


def sticky_assign(
    partitions_per_topic: Mapping[str, int], subscriptions: Mapping[str, Subscription]
) -> Assignment:
    """Kafka's StickyAssignor (eager): the balanced, sticky assignment, moves included."""
    return sticky_assignment(partitions_per_topic, subscriptions).assignment


def cooperative_sticky_assign(
    partitions_per_topic: Mapping[str, int], subscriptions: Mapping[str, Subscription]
) -> CooperativeResult:
    """Kafka's CooperativeStickyAssignor: the sticky assignment, less every partition that
    moves between members — its owner revokes it now, and the follow-up rebalance assigns it."""
    result = sticky_assignment(partitions_per_topic, subscriptions)
    assignment = {m: list(tps) for m, tps in result.assignment.items()}
    transferring = result.transferring
    if transferring is None:
        transferring = _transferring_ownership(subscriptions, assignment)
    for tp, member in transferring.items():
        if tp in assignment.get(member, ()):
            assignment[member].remove(tp)
    return CooperativeResult(
        {m: sorted(assignment.get(m, [])) for m in subscriptions}, dict(transferring)
    )


def _transferring_ownership(
    subscriptions: Mapping[str, Subscription], assignment: Assignment
) -> dict[TP, str]:
    """``computePartitionsTransferringOwnership``: partitions added to one member that some
    member's subscription says it owned and is losing (claims taken as sent, generations
    aside)."""
    added: dict[TP, str] = {}
    revoked: set[TP] = set()
    for member, assigned in assignment.items():
        owned = subscriptions[member].owned
        owned_set, assigned_set = set(owned), set(assigned)
        for tp in assigned:
            if tp not in owned_set:
                added[tp] = member
        revoked.update(tp for tp in owned if tp not in assigned_set)
    return {tp: m for tp, m in added.items() if tp in revoked}


def sticky_assignment(
    partitions_per_topic: Mapping[str, int], subscriptions: Mapping[str, Subscription]
) -> StickyResult:
    """Kafka's AbstractStickyAssignor: the constrained algorithm when every member subscribes to
    the same topics, the general one otherwise."""
    subscribed = {t for s in subscriptions.values() for t in s.topics}
    partitions_per_topic = {t: n for t, n in partitions_per_topic.items() if t in subscribed}
    # The Java code walks its subscriptions in java.util.HashMap order, and that order decides
    # which of several previous owners keeps an extra partition; replay it.
    members = java_hashmap_order(subscriptions)
    owned, multiply_claimed = _owned_partitions(partitions_per_topic, subscriptions, members)
    topic_sets = {frozenset(subscriptions[m].topics) for m in members}
    if len(topic_sets) <= 1:
        builder = _ConstrainedAssignment(partitions_per_topic, owned, multiply_claimed)
        return StickyResult(builder.build(), builder.transferring)
    general = _GeneralAssignment(partitions_per_topic, subscriptions, owned, members)
    return StickyResult(general.build(), None)


def _owned_partitions(
    partitions_per_topic: Mapping[str, int],
    subscriptions: Mapping[str, Subscription],
    members: Sequence[str],
) -> tuple[dict[str, list[TP]], set[TP]]:
    """Each member's valid claims to the partitions it owned (``allSubscriptionsEqual``).

    A partition claimed by two members: the one with the later generation keeps its claim and
    the other loses it; if both claim it in the same generation (a bug somewhere, Kafka logs an
    error), neither keeps it and it is returned among the partitions with several owners.
    """
    owned: dict[str, list[TP]] = {}
    claimed_by: dict[TP, str] = {}
    multiply_claimed: set[TP] = set()
    for member in members:
        owned[member] = []
        generation = subscriptions[member].generation
        for tp in subscriptions[member].owned:
            count = partitions_per_topic.get(tp[0])
            if count is None or not 0 <= tp[1] < count:
                continue
            other = claimed_by.get(tp)
            if other is None:
                owned[member].append(tp)
                claimed_by[tp] = member
                continue
            other_generation = subscriptions[other].generation
            if generation == other_generation:
                multiply_claimed.add(tp)
                if tp in owned[other]:
                    owned[other].remove(tp)
                claimed_by[tp] = member
            elif generation > other_generation:
                owned[member].append(tp)
                if tp in owned[other]:
                    owned[other].remove(tp)
                claimed_by[tp] = member
            # else: the other member's later generation wins; this claim is stale.
    return owned, multiply_claimed


class _ConstrainedAssignment:
    """``ConstrainedAssignmentBuilder``: all members subscribe to the same topics."""

    def __init__(
        self,
        partitions_per_topic: Mapping[str, int],
        owned: dict[str, list[TP]],
        multiply_claimed: set[TP],
    ):
        self.partitions_per_topic = partitions_per_topic
        self.owned = owned
        self.multiply_claimed = multiply_claimed
        total = sum(partitions_per_topic.values())
        n = len(owned)
        self.min_quota = total // n if n else 0
        self.max_quota = -(-total // n) if n else 0
        self.expected_over_min = total % n if n else 0
        self.current_over_min = 0
        self.assignment: Assignment = {m: [] for m in owned}
        self.under_min: list[str] = []
        self.exactly_min: list[str] = []
        # Owned partitions cut by the quota, with the member that owned them.
        self.maybe_revoked: dict[TP, str] = {}
        self.transferring: dict[TP, str] = {}

    def build(self) -> Assignment:
        if not self.owned:
            return {}
        assigned: set[TP] = set()
        for member, partitions in self.owned.items():
            mine = sorted(
                (tp for tp in partitions if tp not in self.multiply_claimed),
                key=lambda tp: (tp[1], tp[0]),
            )
            if len(mine) < self.min_quota:
                self.assignment[member].extend(mine)
                assigned.update(mine)
                self.under_min.append(member)
            elif len(mine) >= self.max_quota and self.current_over_min < self.expected_over_min:
                self.current_over_min += 1
                if self.current_over_min == self.expected_over_min:
                    self.exactly_min.clear()
                keep = mine[: self.max_quota]
                self.assignment[member].extend(keep)
                assigned.update(keep)
                self.maybe_revoked.update(dict.fromkeys(mine[self.max_quota :], member))
            else:
                keep = mine[: self.min_quota]
                self.assignment[member].extend(keep)
                assigned.update(keep)
                self.maybe_revoked.update(dict.fromkeys(mine[self.min_quota :], member))
                if self.current_over_min < self.expected_over_min:
                    self.exactly_min.append(member)
        unassigned = [
            (topic, p)
            for topic in sorted(self.partitions_per_topic)
            for p in range(self.partitions_per_topic[topic])
            if (topic, p) not in assigned
        ]
        self.under_min.sort()
        self.exactly_min.sort()
        self._assign_round_robin(unassigned)
        return self.assignment

    def _assign_round_robin(self, unassigned: list[TP]) -> None:
        under = self.under_min
        exactly = deque(self.exactly_min)
        i = 0
        for tp in unassigned:
            from_under = True
            if i < len(under):
                member = under[i]
            elif not under and not exactly:
                raise AssertionError("sticky assignor: no member left to take a partition")
            elif not under:
                member = exactly.popleft()
                from_under = False
            else:
                i = 0
                member = under[0]
            self._assign_new(tp, member)
            count = len(self.assignment[member])
            if count == self.min_quota and from_under:
                under.pop(i)
                exactly.append(member)
                continue
            if from_under:
                i += 1
            if count == self.max_quota:
                self.current_over_min += 1

    def _assign_new(self, tp: TP, member: str) -> None:
        """``assignNewPartition``: a partition given to a member that did not own it (or one
        whose claims cancelled out) changes owner."""
        self.assignment[member].append(tp)
        previous = self.maybe_revoked.get(tp)
        if (previous is not None and previous != member) or tp in self.multiply_claimed:
            self.transferring[tp] = member


class _GeneralAssignment:
    """``GeneralAssignmentBuilder``: members subscribe to different topics."""

    def __init__(
        self,
        partitions_per_topic: Mapping[str, int],
        subscriptions: Mapping[str, Subscription],
        owned: dict[str, list[TP]],
        members: list[str],
    ):
        self.partitions_per_topic = dict(partitions_per_topic)
        self.subscriptions = subscriptions
        self.current: Assignment = {m: list(owned.get(m, [])) for m in members}
        self.topic_consumers: dict[str, list[str]] = {t: [] for t in partitions_per_topic}
        self.consumer_topics: dict[str, list[str]] = {}
        for member in members:
            topics = [t for t in subscriptions[member].topics if t in partitions_per_topic]
            self.consumer_topics[member] = topics
            for topic in topics:
                self.topic_consumers[topic].append(member)
        self.partition_consumer: dict[TP, str] = {
            tp: m for m, tps in self.current.items() for tp in tps
        }
        sorted_topics = sorted(
            self.topic_consumers, key=lambda t: (len(self.topic_consumers[t]), t)
        )
        self.sorted_all: list[TP] = [
            (t, p) for t in sorted_topics for p in range(self.partitions_per_topic[t])
        ]
        self.total = sum(self.partitions_per_topic.values())
        self.in_tree: set[str] = set()
        self.revocation_required = False
        self.movements = _PartitionMovements()

    # The Java TreeSet ordered by (number of partitions, member id).
    def _sorted_members(self) -> list[str]:
        return sorted(self.in_tree, key=lambda m: (len(self.current[m]), m))

    def _previous_owners(self) -> dict[TP, tuple[str, int]]:
        """``prepopulateCurrentAssignments``: for each partition claimed in a generation
        older than the latest, the latest such claimant.  The balancing step moves a partition
        back to that member first when it can."""
        max_generation = max(
            [DEFAULT_GENERATION, *(s.generation for s in self.subscriptions.values())]
        )
        prev: dict[TP, tuple[str, int]] = {}
        if max_generation == DEFAULT_GENERATION:
            return prev
        for member in self.current:
            sub_ = self.subscriptions[member]
            if sub_.generation >= max_generation:
                continue
            for tp in sub_.owned:
                if tp not in prev or sub_.generation > prev[tp][1]:
                    prev[tp] = (member, sub_.generation)
        return prev

    def build(self) -> Assignment:
        self.prev_owner = self._previous_owners()
        assigned: set[TP] = set()
        for member in list(self.current):
            topics = set(self.subscriptions[member].topics)
            kept = []
            for tp in self.current[member]:
                if tp[0] not in self.topic_consumers:
                    self.partition_consumer.pop(tp, None)
                elif tp[0] not in topics:
                    self.revocation_required = True
                else:
                    kept.append(tp)
                    assigned.add(tp)
            self.current[member] = kept
        unassigned = [tp for tp in self.sorted_all if tp not in assigned]
        self.in_tree.update(self.current)
        self._balance(unassigned)
        return self.current

    def _max_assignment_size(self, topics: list[str]) -> int:
        if len(topics) == len(self.partitions_per_topic):
            return self.total
        return sum(self.partitions_per_topic[t] for t in topics)

    def _is_balanced(self) -> bool:
        ordered = self._sorted_members()
        if not ordered:
            return True
        if len(self.current[ordered[0]]) >= len(self.current[ordered[-1]]) - 1:
            return True
        owner = {tp: m for m in ordered for tp in self.current[m]}
        for member in ordered:
            count = len(self.current[member])
            topics = self.consumer_topics[member]
            if count == self._max_assignment_size(topics):
                continue
            mine = set(self.current[member])
            for topic in topics:
                for p in range(self.partitions_per_topic[topic]):
                    tp = (topic, p)
                    if tp in mine:
                        continue
                    other = owner.get(tp)
                    if other is not None and count + 1 < len(self.current[other]):
                        return False
        return True

    def _balance_score(self, assignment: Assignment) -> int:
        sizes = [len(v) for v in assignment.values()]
        return sum(abs(a - b) for i, a in enumerate(sizes) for b in sizes[i + 1 :])

    def _maybe_assign(self, partitions: list[TP]) -> None:
        for tp in partitions:
            if not self.topic_consumers[tp[0]]:
                continue
            for member in self._sorted_members():
                if tp[0] in self.consumer_topics[member]:
                    self.current[member].append(tp)
                    self.partition_consumer[tp] = member
                    break

    def _topic_can_move(self, topic: str) -> bool:
        return len(self.topic_consumers[topic]) >= 2

    def _consumer_can_move(self, member: str) -> bool:
        partitions = self.current[member]
        if len(partitions) < self._max_assignment_size(self.consumer_topics[member]):
            return True
        return any(self._topic_can_move(tp[0]) for tp in partitions)

    def _balance(self, unassigned: list[TP]) -> None:
        ordered = self._sorted_members()
        initializing = not ordered or not self.current[ordered[-1]]
        self._maybe_assign(unassigned)

        fixed_partitions = {
            (t, p)
            for t in self.topic_consumers
            if not self._topic_can_move(t)
            for p in range(self.partitions_per_topic[t])
        }
        self.sorted_all = [tp for tp in self.sorted_all if tp not in fixed_partitions]
        unassigned = [tp for tp in unassigned if tp not in fixed_partitions]

        fixed_assignments: Assignment = {}
        for member in list(self.consumer_topics):
            if not self._consumer_can_move(member):
                self.in_tree.discard(member)
                fixed_assignments[member] = self.current.pop(member)

        pre_balance = {m: list(v) for m, v in self.current.items()}
        pre_owner = dict(self.partition_consumer)
        if not self.revocation_required:
            self._perform_reassignments(unassigned)
        performed = self._perform_reassignments(self.sorted_all)
        if (
            not initializing
            and performed
            and self._balance_score(self.current) >= self._balance_score(pre_balance)
        ):
            self.current = pre_balance
            self.partition_consumer = pre_owner
        for member, partitions in fixed_assignments.items():
            self.current[member] = partitions
            self.in_tree.add(member)

    def _perform_reassignments(self, partitions: list[TP]) -> bool:
        performed = False
        while True:
            modified = False
            for tp in partitions:
                if self._is_balanced():
                    break
                member = self.partition_consumer.get(tp)
                if member is None or member not in self.current:
                    continue
                prev = self.prev_owner.get(tp)
                if (
                    prev is not None
                    and prev[0] in self.current
                    and len(self.current[member]) > len(self.current[prev[0]]) + 1
                ):
                    self._reassign(tp, prev[0])
                    performed = modified = True
                    continue
                for other in self.topic_consumers[tp[0]]:
                    if (
                        other in self.current
                        and len(self.current[member]) > len(self.current[other]) + 1
                    ):
                        self._reassign(tp)
                        performed = modified = True
                        break
            if not modified:
                return performed

    def _reassign(self, tp: TP, new: str | None = None) -> None:
        if new is None:
            new = next(m for m in self._sorted_members() if tp[0] in self.consumer_topics[m])
        old = self.partition_consumer[tp]
        moved = self.movements.actual_partition_to_move(tp, old, new)
        source = self.partition_consumer[moved]
        self.movements.move(moved, source, new)
        self.current[source].remove(moved)
        self.current[new].append(moved)
        self.partition_consumer[moved] = new


class _PartitionMovements:
    """Kafka's ``PartitionMovements``: remembers moves so that a partition moving back and forth
    between two members is swapped for one that already moved the other way."""

    def __init__(self) -> None:
        self.by_topic: dict[str, dict[tuple[str, str], list[TP]]] = {}
        self.moves: dict[TP, tuple[str, str]] = {}

    def _remove(self, tp: TP) -> tuple[str, str]:
        pair = self.moves.pop(tp)
        topic_moves = self.by_topic[tp[0]]
        topic_moves[pair].remove(tp)
        if not topic_moves[pair]:
            del topic_moves[pair]
        if not topic_moves:
            del self.by_topic[tp[0]]
        return pair

    def _add(self, tp: TP, pair: tuple[str, str]) -> None:
        self.moves[tp] = pair
        self.by_topic.setdefault(tp[0], {}).setdefault(pair, []).append(tp)

    def move(self, tp: TP, old: str, new: str) -> None:
        if tp in self.moves:
            src, _dst = self._remove(tp)
            if src != new:
                self._add(tp, (src, new))
        else:
            self._add(tp, (old, new))

    def actual_partition_to_move(self, tp: TP, old: str, new: str) -> TP:
        topic_moves = self.by_topic.get(tp[0])
        if topic_moves is None:
            return tp
        if tp in self.moves:
            old = self.moves[tp][0]
        candidates = topic_moves.get((new, old))
        if not candidates:
            return tp
        # HashSet.iterator().next() in the Java code: the first partition in hash order.
        return java_hashset_first(candidates)
