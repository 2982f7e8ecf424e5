"""ConsumerGroupHeartbeat (KIP-848): joining, reconciling and leaving consumer-protocol groups.

Every member heartbeats every ``group.consumer.heartbeat.interval.ms``; the heartbeat carries
its member epoch, and (when they change) its subscription and the partitions it owns.  The
answer carries its epoch and, when it changed, the partitions it may consume now.  There is no
join barrier and no client-side leader: the coordinator bumps the group epoch when membership
or subscriptions change, computes the target assignment with a server-side assignor
(``server_assignors``), and each member reconciles towards its target on its own heartbeats,
revoking before anyone else is given what it had.  A member silent for
``group.consumer.session.timeout.ms`` is removed and its partitions go to the others.
"""

from __future__ import annotations

import logging
import uuid

from kcli.serve.config import BrokerConfig
from kcli.serve.consumer_group_state import (
    JOIN_EPOCH,
    LEAVE_EPOCH,
    MEMBER_STABLE,
    STATIC_LEAVE_EPOCH,
    UNRELEASED_PARTITIONS,
    UNREVOKED_PARTITIONS,
    ConsumerGroup,
    ConsumerMember,
    TopicPartition,
    subscribed_topics,
    topic_regex,
)
from kcli.serve.consumer_protocol import format_partitions, partitions_by_topic
from kcli.serve.errors import group_error_code
from kcli.serve.group_registry import GroupRegistry
from kcli.serve.protocol import ErrorCode, Request
from kcli.serve.schemas import ConsumerGroupHeartbeatResponse
from kcli.serve.server_assignors import assign
from kcli.serve.stats import ConnectionStats
from storage import StorageError

log = logging.getLogger("kcli.serve")


class HeartbeatError(Exception):
    """A heartbeat refused with ``code``; ``message`` goes in the answer's ErrorMessage."""

    def __init__(self, code: ErrorCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class ConsumerGroupMembership:
    """ConsumerGroupHeartbeat for the consumer-protocol groups in ``registry``."""

    def __init__(self, registry: GroupRegistry, config: BrokerConfig):
        self.registry = registry
        self.config = config
        self.assignors = [a.strip() for a in config.group_consumer_assignors.split(",")]

    async def consumer_group_heartbeat(self, conn: ConnectionStats, req: Request):
        body = req.body
        try:
            member = await self._heartbeat(conn, req)
        except HeartbeatError as exc:
            log.info(
                "heartbeat of %s to group '%s' refused: %s (%s)",
                conn.label,
                body.group_id,
                exc.code.name,
                exc.message,
            )
            return ConsumerGroupHeartbeatResponse(
                version=req.version,
                throttle_time_ms=0,
                error_code=exc.code,
                error_message=exc.message,
                member_id=None,
                member_epoch=-1,
                heartbeat_interval_ms=0,
                assignment=None,
            )
        if member.member_epoch < 0:  # it left
            return ConsumerGroupHeartbeatResponse(
                version=req.version,
                throttle_time_ms=0,
                error_code=0,
                member_id=member.member_id,
                member_epoch=body.member_epoch,
                heartbeat_interval_ms=0,
                assignment=None,
            )
        assignment = None
        now_assigned = frozenset(member.assigned)
        if member.sent != now_assigned or body.topic_partitions is not None:
            member.sent = now_assigned
            assignment = await self._assignment(now_assigned)
        return ConsumerGroupHeartbeatResponse(
            version=req.version,
            throttle_time_ms=0,
            error_code=0,
            error_message=None,
            member_id=member.member_id,
            member_epoch=member.member_epoch,
            heartbeat_interval_ms=self.config.group_consumer_heartbeat_interval_ms,
            assignment=assignment,
        )

    async def _heartbeat(self, conn: ConnectionStats, req: Request) -> ConsumerMember:
        body = req.body
        if not body.group_id:
            raise HeartbeatError(ErrorCode.INVALID_REQUEST, "GroupId can't be empty.")
        if self.registry.stopping:
            raise HeartbeatError(ErrorCode.COORDINATOR_NOT_AVAILABLE, "the broker is stopping")
        if body.server_assignor is not None and body.server_assignor not in self.assignors:
            raise HeartbeatError(
                ErrorCode.UNSUPPORTED_ASSIGNOR,
                f"ServerAssignor {body.server_assignor} is not supported. Supported assignors: "
                f"{', '.join(self.assignors)}.",
            )
        classic = self.registry.groups.get(body.group_id)
        if classic is not None and (classic.members or classic.pending):
            # Kafka with group.consumer.migration.policy=disabled: a live classic group stays
            # classic (kcli does not convert groups online).
            raise HeartbeatError(
                ErrorCode.GROUP_ID_NOT_FOUND, f"Group {body.group_id} is not a consumer group."
            )
        group = self.registry.consumer_groups.get(body.group_id)
        if group is None:
            group = await self._create(body.group_id)
        now = self.registry.loop_time()
        epoch = body.member_epoch
        if epoch == JOIN_EPOCH:
            member = self._join(conn, req, group, now)
        else:
            member = group.members.get(body.member_id)
            if member is None:
                raise HeartbeatError(
                    ErrorCode.UNKNOWN_MEMBER_ID,
                    f"Member {body.member_id} is not a member of group {group.group_id}.",
                )
            if epoch in (LEAVE_EPOCH, STATIC_LEAVE_EPOCH):
                self._leave(group, member, epoch)
                return member
            self._check_epoch(group, member, epoch, body.topic_partitions)
        member.last_heartbeat = now
        changed = self._update_subscription(member, body)
        owned = None
        if body.topic_partitions is not None:
            owned = await self._owned(body.topic_partitions)
        partitions = self._subscribed_counts(group, await self.registry.catalog.partition_counts())
        if changed or partitions != group.partitions:
            self._bump_epoch(group, partitions, f"{member.member_id} subscribed or joined")
        self.reconcile(group, member, owned)
        self.registry.dirty.add(group.group_id)
        self.registry.wake.set()
        return member

    async def _create(self, group_id: str) -> ConsumerGroup:
        try:
            epoch = await self.registry.run(self.registry.claim, group_id)
        except StorageError as exc:
            raise HeartbeatError(ErrorCode(group_error_code(exc)), str(exc)) from None
        group = self.registry.consumer_groups.get(group_id)
        if group is None:
            group = ConsumerGroup(group_id, group_epoch=epoch, assignment_epoch=epoch)
            self.registry.consumer_groups[group_id] = group
        self.registry.groups.pop(group_id, None)  # an empty classic group becomes this one
        return group

    def _join(self, conn, req: Request, group: ConsumerGroup, now: float) -> ConsumerMember:
        body = req.body
        member_id = body.member_id
        if req.version == 0 and not member_id:
            member_id = str(uuid.uuid4())  # v1+ clients choose their own (KIP-1082)
        if not member_id:
            raise HeartbeatError(ErrorCode.INVALID_REQUEST, "MemberId can't be empty.")
        if (
            body.subscribed_topic_names is None
            and getattr(body, "subscribed_topic_regex", None) is None
        ):
            if member_id not in group.members:
                raise HeartbeatError(
                    ErrorCode.INVALID_REQUEST,
                    "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.",
                )
        if (
            body.rebalance_timeout_ms is not None
            and body.rebalance_timeout_ms < 0
            and (member_id not in group.members)
        ):
            raise HeartbeatError(
                ErrorCode.INVALID_REQUEST, "RebalanceTimeoutMs must be provided in first request."
            )
        if body.instance_id is not None:
            previous = next(
                (m for m in group.members.values() if m.instance_id == body.instance_id), None
            )
            if previous is not None and previous.member_id != member_id:
                if previous.member_epoch != STATIC_LEAVE_EPOCH:
                    raise HeartbeatError(
                        ErrorCode.UNRELEASED_INSTANCE_ID,
                        f"Static member {previous.member_id} with instance id "
                        f"{body.instance_id} is not released.",
                    )
                return self._replace_static(group, previous, member_id, conn, now)
        member = group.members.get(member_id)
        if member is None:
            member = ConsumerMember(
                member_id=member_id,
                instance_id=body.instance_id,
                rack_id=body.rack_id,
                client_id=conn.client_id or "",
                client_host=conn.host,
                rebalance_timeout_ms=body.rebalance_timeout_ms,
                last_heartbeat=now,
            )
            group.members[member_id] = member
            log.info("%s joined consumer group '%s' as %s", conn.label, group.group_id, member_id)
        else:
            # It lost its partitions (fenced, or restarted with its id): it owns nothing now.
            member.assigned.clear()
            member.revoking.clear()
            member.member_epoch = JOIN_EPOCH
            member.state = MEMBER_STABLE
            member.sent = None
        return member

    def _replace_static(
        self, group: ConsumerGroup, previous: ConsumerMember, member_id: str, conn, now: float
    ) -> ConsumerMember:
        """A static member back within its session: its place, partitions and epoch, under
        its new member id, with no new group epoch (KIP-848's static membership)."""
        previous_id = previous.member_id
        del group.members[previous_id]
        previous.member_id = member_id
        previous.member_epoch = previous.previous_member_epoch
        previous.client_id = conn.client_id or ""
        previous.client_host = conn.host
        previous.last_heartbeat = now
        previous.sent = None
        group.members[member_id] = previous
        if previous_id in group.target:
            group.target[member_id] = group.target.pop(previous_id)
        log.info(
            "static member %s of consumer group '%s' is back as %s",
            previous.instance_id,
            group.group_id,
            member_id,
        )
        return previous

    def _leave(self, group: ConsumerGroup, member: ConsumerMember, epoch: int) -> None:
        if epoch == STATIC_LEAVE_EPOCH and member.instance_id is not None:
            # A static member leaving for a while: its partitions wait for it until its
            # session times out.
            member.previous_member_epoch = member.member_epoch
            member.member_epoch = STATIC_LEAVE_EPOCH
            log.info(
                "static member %s of consumer group '%s' left for now",
                member.instance_id,
                group.group_id,
            )
        else:
            member.member_epoch = LEAVE_EPOCH
            self.remove_member(group, member, "left the group")
        self.registry.dirty.add(group.group_id)

    @staticmethod
    def _check_epoch(group: ConsumerGroup, member: ConsumerMember, epoch: int, owned) -> None:
        """Kafka's fencing: a member may send its current epoch, or its previous one while its
        answer for the new one may have been lost (then it may own no more than it has)."""
        if epoch == member.member_epoch:
            return
        if epoch == member.previous_member_epoch:
            return
        raise HeartbeatError(
            ErrorCode.FENCED_MEMBER_EPOCH,
            f"The consumer group member has a member epoch ({epoch}) different from the one "
            f"known by the group coordinator ({member.member_epoch}).",
        )

    @staticmethod
    def _update_subscription(member: ConsumerMember, body) -> bool:
        changed = False
        if body.subscribed_topic_names is not None:
            names = tuple(sorted(body.subscribed_topic_names))
            changed |= names != member.subscribed_topic_names
            member.subscribed_topic_names = names
        regex = getattr(body, "subscribed_topic_regex", None)
        if regex is not None:
            regex = regex or None  # librdkafka sends "" for no regex
            changed |= regex != member.subscribed_topic_regex
            member.subscribed_topic_regex = regex
        if body.server_assignor is not None:
            changed |= body.server_assignor != member.server_assignor
            member.server_assignor = body.server_assignor
        if body.rebalance_timeout_ms is not None and body.rebalance_timeout_ms >= 0:
            member.rebalance_timeout_ms = body.rebalance_timeout_ms
        return changed

    async def _owned(self, topic_partitions) -> set[TopicPartition]:
        ids = [tp.topic_id for tp in topic_partitions]
        names = await self.registry.catalog.names(ids)
        return {
            (names[tp.topic_id], p)
            for tp in topic_partitions
            if tp.topic_id in names
            for p in tp.partitions
        }

    @staticmethod
    def _subscribed_counts(group: ConsumerGroup, counts: dict[str, int]) -> dict[str, int]:
        """Partition counts of every existing topic some member subscribes to."""
        wanted: set[str] = set()
        for member in group.members.values():
            wanted.update(t for t in member.subscribed_topic_names if t in counts)
            if member.subscribed_topic_regex:
                pattern = topic_regex(member.subscribed_topic_regex)
                wanted.update(t for t in counts if pattern is not None and pattern.fullmatch(t))
        return {t: counts[t] for t in sorted(wanted)}

    async def _assignment(self, assigned: frozenset[TopicPartition]):
        ids = await self.registry.catalog.ids({t for t, _ in assigned})
        cls = ConsumerGroupHeartbeatResponse.Assignment
        return cls(
            topic_partitions=[
                cls.TopicPartitions(topic_id=ids[t], partitions=ps)
                for t, ps in partitions_by_topic(assigned).items()
                if t in ids
            ]
        )

    # -- the group epoch, the target assignment and reconciliation ------------------------

    @staticmethod
    def subscriptions(group: ConsumerGroup) -> dict[str, frozenset[str]]:
        return {m.member_id: subscribed_topics(group, m) for m in group.members.values()}

    def _bump_epoch(self, group: ConsumerGroup, partitions: dict[str, int], reason: str) -> None:
        group.group_epoch += 1
        group.partitions = partitions
        self.compute_target(group)
        log.info(
            "consumer group '%s' epoch %d (%s): target %s",
            group.group_id,
            group.group_epoch,
            reason,
            "; ".join(f"{m} <- {format_partitions(tps)}" for m, tps in sorted(group.target.items()))
            or "(no members)",
        )

    def compute_target(self, group: ConsumerGroup) -> None:
        group.assignor = self._assignor(group)
        group.target = assign(
            group.assignor, self.subscriptions(group), group.partitions, group.target
        )
        group.assignment_epoch = group.group_epoch

    def _assignor(self, group: ConsumerGroup) -> str:
        """The assignor most members ask for; the broker's first one when none asks."""
        votes: dict[str, int] = {}
        for member in group.members.values():
            if member.server_assignor:
                votes[member.server_assignor] = votes.get(member.server_assignor, 0) + 1
        if not votes:
            return self.assignors[0]
        return max(sorted(votes), key=lambda a: votes[a])

    def reconcile(
        self, group: ConsumerGroup, member: ConsumerMember, owned: set[TopicPartition] | None
    ) -> None:
        """One step of ``member`` towards its target assignment."""
        if member.revoking:
            if owned is None or owned & member.revoking:
                return  # it has not revoked them yet
            log.info(
                "member %s of consumer group '%s' revoked %s",
                member.member_id,
                group.group_id,
                format_partitions(member.revoking),
            )
            member.revoking.clear()
        target = group.target.get(member.member_id, set())
        if member.member_epoch != group.assignment_epoch:
            to_revoke = member.assigned - target
            if to_revoke:
                member.assigned -= to_revoke
                member.revoking = to_revoke
                member.state = UNREVOKED_PARTITIONS
                member.revoke_deadline = (
                    self.registry.loop_time() + max(member.rebalance_timeout_ms, 0) / 1000
                )
                return
            member.previous_member_epoch = member.member_epoch
            member.member_epoch = group.assignment_epoch
        free = {tp for tp in target - member.assigned if group.owner_of(tp) is None}
        member.assigned |= free
        member.state = MEMBER_STABLE if member.assigned == target else UNRELEASED_PARTITIONS

    def remove_member(self, group: ConsumerGroup, member: ConsumerMember, reason: str) -> None:
        group.members.pop(member.member_id, None)
        group.target.pop(member.member_id, None)
        log.info("member %s left consumer group '%s': %s", member.member_id, group.group_id, reason)
        self._bump_epoch(group, group.partitions, f"{member.member_id} left")
        self.registry.dirty.add(group.group_id)

    def expire(self) -> None:
        """Remove members silent for the session timeout, or slow to revoke past their
        rebalance timeout (the timers call this)."""
        now = self.registry.loop_time()
        session = self.config.group_consumer_session_timeout_ms / 1000
        for group in list(self.registry.consumer_groups.values()):
            for member in list(group.members.values()):
                if now - member.last_heartbeat > session:
                    self.remove_member(
                        group,
                        member,
                        "no heartbeat within group.consumer.session.timeout.ms="
                        f"{self.config.group_consumer_session_timeout_ms}",
                    )
                elif member.revoking and now > member.revoke_deadline:
                    self.remove_member(
                        group, member, "did not revoke its partitions within its rebalance timeout"
                    )
            if not group.members and group.group_id not in self.registry.dirty:
                del self.registry.consumer_groups[group.group_id]
