"""The group membership state machine: JoinGroup, SyncGroup, Heartbeat and LeaveGroup.

A group moves through Kafka's states:

    Empty --join--> PreparingRebalance --everyone rejoined--> CompletingRebalance
          --leader's SyncGroup--> Stable --join / leave / session expiry--> PreparingRebalance

JoinGroup requests wait until every known member has rejoined, and every member that was just
handed its id has joined with it (or the rebalance timeout passes: members that did not rejoin
are dropped).  Then the generation goes up, a leader is chosen and gets every member's
subscription; it computes the assignment on the client side and sends it in its SyncGroup,
which the coordinator hands out to the other members.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from dataclasses import dataclass

from kcli.serve.config import BrokerConfig
from kcli.serve.consumer_protocol import decode_assignment, format_partitions
from kcli.serve.errors import group_error_code
from kcli.serve.group_registry import GroupRegistry
from kcli.serve.group_state import (
    COMPLETING_REBALANCE,
    EMPTY,
    PREPARING_REBALANCE,
    STABLE,
    Group,
    Member,
)
from kcli.serve.group_timers import GroupPublisher
from kcli.serve.protocol import (
    ErrorCode,
    HeartbeatResponse,
    JoinGroupResponse,
    LeaveGroupResponse,
    Request,
    SyncGroupResponse,
)
from kcli.serve.stats import ConnectionStats
from storage import StorageError

log = logging.getLogger("kcli.serve")


@dataclass(frozen=True)
class _JoinResult:
    error: ErrorCode
    generation: int = -1
    protocol: str = ""
    leader: str = ""
    member_id: str = ""
    members: tuple[tuple[str, str | None, bytes], ...] = ()


class GroupMembership:
    """Joins, syncs, heartbeats and leaves of the groups in ``registry``."""

    def __init__(self, registry: GroupRegistry, config: BrokerConfig, publisher: GroupPublisher):
        self.registry = registry
        self.config = config
        self.publisher = publisher  # LeaveGroup publishes before it answers

    def cancel_waiting(self) -> None:
        """Answer every waiting join and sync (the server is stopping), leaving groups Empty."""
        for group in self.registry.groups.values():
            for member in group.members.values():
                resolve(member.join_future, _JoinResult(ErrorCode.REBALANCE_IN_PROGRESS))
                resolve(member.sync_future, (ErrorCode.REBALANCE_IN_PROGRESS, b""))
            if group.members:
                group.members.clear()
                group.state = EMPTY
                self.registry.dirty.add(group.group_id)

    # -- JoinGroup ------------------------------------------------------------------------

    async def join_group(self, conn: ConnectionStats, req: Request):
        body = req.body
        result = await self._join(conn, req)
        members = [
            JoinGroupResponse.JoinGroupResponseMember(
                member_id=member_id, group_instance_id=instance_id, metadata=metadata
            )
            for member_id, instance_id, metadata in result.members
        ]
        return JoinGroupResponse(
            version=req.version,
            throttle_time_ms=0,
            error_code=result.error,
            generation_id=result.generation,
            protocol_type=body.protocol_type,
            protocol_name=result.protocol,
            leader=result.leader,
            member_id=result.member_id or body.member_id,
            members=members,
        )

    async def _join(self, conn: ConnectionStats, req: Request) -> _JoinResult:
        body = req.body
        group_id = body.group_id
        if not group_id:
            return _JoinResult(ErrorCode.INVALID_GROUP_ID)
        if self.registry.stopping:
            return _JoinResult(ErrorCode.COORDINATOR_NOT_AVAILABLE)
        cgroup = self.registry.consumer_groups.get(group_id)
        if cgroup is not None and cgroup.members:
            # A live consumer-protocol group: Kafka lets a classic member in only where it
            # converts groups online (group.consumer.migration.policy); kcli does not.
            log.info(
                "%s cannot join group '%s' with JoinGroup: it is a consumer-protocol group",
                conn.label,
                group_id,
            )
            return _JoinResult(ErrorCode.INCONSISTENT_GROUP_PROTOCOL)
        self.registry.consumer_groups.pop(group_id, None)  # an empty one becomes classic
        session_timeout = body.session_timeout_ms
        if not (
            self.config.group_min_session_timeout_ms
            <= session_timeout
            <= self.config.group_max_session_timeout_ms
        ):
            log.info(
                "%s asked group '%s' for session.timeout.ms=%d; kcli serve accepts %d to %d "
                "(group.min/max.session.timeout.ms)",
                conn.label,
                group_id,
                session_timeout,
                self.config.group_min_session_timeout_ms,
                self.config.group_max_session_timeout_ms,
            )
            return _JoinResult(ErrorCode.INVALID_SESSION_TIMEOUT)
        rebalance_timeout = body.rebalance_timeout_ms if req.version >= 1 else session_timeout
        if rebalance_timeout < 0:
            rebalance_timeout = session_timeout
        protocols = [(p.name, bytes(p.metadata or b"")) for p in body.protocols]
        if not protocols or not body.protocol_type:
            return _JoinResult(ErrorCode.INCONSISTENT_GROUP_PROTOCOL)

        group = self.registry.groups.get(group_id)
        if group is None or not group.members:
            try:
                generation = await self.registry.run(self.registry.claim, group_id)
            except StorageError as exc:
                log.info("%s cannot join group '%s': %s", conn.label, group_id, exc)
                return _JoinResult(group_error_code(exc))
            group = self.registry.groups.get(group_id)  # another join may have created it meanwhile
            if group is None:
                group = self.registry.groups[group_id] = Group(group_id, generation=generation)
        if group.members and (
            body.protocol_type != group.protocol_type
            or not set(group.protocols_in_common()) & {name for name, _ in protocols}
        ):
            return _JoinResult(ErrorCode.INCONSISTENT_GROUP_PROTOCOL)

        now = self.registry.loop_time()
        instance_id = body.group_instance_id if req.version >= 5 else None
        member_id = body.member_id
        member = group.members.get(member_id) if member_id else None
        if member_id and instance_id is not None and member is None:
            if fenced_instance(group, member_id, instance_id):
                return _JoinResult(ErrorCode.FENCED_INSTANCE_ID, member_id=member_id)
        if not member_id:
            member_id = f"{conn.client_id or 'member'}-{uuid.uuid4()}"
            if instance_id is not None:
                old = static_member(group, instance_id)
                if old is not None and group.state == STABLE and old.protocols == protocols:
                    return self._replace_static(conn, group, old, member_id, now)
                if old is not None:
                    # Rebalancing, or rejoining with another subscription: a new rebalance.
                    self.remove_member(group, old, "replaced by a new instance")
            elif req.version >= 4:
                # KIP-394: a new member first learns its id, then joins with it, so a client
                # that never comes back leaves nothing behind but this pending id.
                group.pending[member_id] = now + session_timeout / 1000
                self.registry.wake.set()
                return _JoinResult(ErrorCode.MEMBER_ID_REQUIRED, member_id=member_id)
        elif member is None:
            if group.pending.pop(member_id, None) is None:
                return _JoinResult(ErrorCode.UNKNOWN_MEMBER_ID, member_id=member_id)

        if member is None:
            member = Member(
                member_id=member_id,
                group_instance_id=instance_id,
                client_id=conn.client_id,
                client_host=conn.host,
                session_timeout_ms=session_timeout,
                rebalance_timeout_ms=rebalance_timeout,
                protocol_type=body.protocol_type,
                protocols=protocols,
                joined_at=now,
                last_heartbeat=now,
            )
            if not group.members:
                group.protocol_type = body.protocol_type
            group.members[member_id] = member
            log.info("%s joined group '%s' as %s", conn.label, group_id, member_id)
            changed = True
        else:
            changed = member.protocols != protocols
            member.protocols = protocols
            member.session_timeout_ms = session_timeout
            member.rebalance_timeout_ms = rebalance_timeout
            member.last_heartbeat = now

        if (
            group.state == STABLE
            and not changed
            and member_id != group.leader
            and member.join_future is None
        ):
            # A follower rejoining with the same subscription: nothing to rebalance.
            return _JoinResult(
                ErrorCode.NONE,
                group.generation,
                group.protocol,
                group.leader,
                member_id,
            )
        resolve(member.join_future, _JoinResult(ErrorCode.UNKNOWN_MEMBER_ID, member_id=member_id))
        future = asyncio.get_running_loop().create_future()
        member.join_future = future
        if group.state != PREPARING_REBALANCE:
            self._prepare_rebalance(group, f"{member_id} {'joined' if changed else 'rejoined'}")
        self.maybe_complete_join(group)
        conn.waiting = "JoinGroup"
        try:
            return await future
        except asyncio.CancelledError:
            # The client went away while waiting: it has not rejoined after all.
            if member.join_future is future:
                member.join_future = None
            raise
        finally:
            conn.waiting = ""

    def _replace_static(
        self, conn: ConnectionStats, group: Group, old: Member, member_id: str, now: float
    ) -> _JoinResult:
        """A static member back (KIP-345): it takes its previous incarnation's place under a
        new member id, with its assignment and the generation unchanged, and no rebalance.
        The previous incarnation, if it still runs, is fenced (FENCED_INSTANCE_ID)."""
        del group.members[old.member_id]
        resolve(old.join_future, _JoinResult(ErrorCode.FENCED_INSTANCE_ID))
        resolve(old.sync_future, (ErrorCode.FENCED_INSTANCE_ID, b""))
        member = dataclasses.replace(
            old,
            member_id=member_id,
            client_id=conn.client_id,
            client_host=conn.host,
            joined_at=now,
            last_heartbeat=now,
            join_future=None,
            sync_future=None,
        )
        group.members[member_id] = member
        if group.leader == old.member_id:
            group.leader = member_id
        log.info(
            "static member %s of group '%s' is back as %s: same partitions, generation %d, "
            "no rebalance",
            old.group_instance_id,
            group.group_id,
            member_id,
            group.generation,
        )
        self.registry.dirty.add(group.group_id)
        # The leader is sent the members, as Kafka does before JoinGroup v9's SkipAssignment;
        # its SyncGroup in a Stable group gets the stored assignment whatever it sends.
        members = ()
        if member_id == group.leader:
            members = tuple(
                (m.member_id, m.group_instance_id, m.metadata(group.protocol))
                for m in group.members.values()
            )
        return _JoinResult(
            ErrorCode.NONE, group.generation, group.protocol, group.leader, member_id, members
        )

    def _prepare_rebalance(self, group: Group, reason: str) -> None:
        now = self.registry.loop_time()
        if group.state == COMPLETING_REBALANCE:
            for member in group.members.values():
                resolve(member.sync_future, (ErrorCode.REBALANCE_IN_PROGRESS, b""))
                member.sync_future = None
        initial = group.state == EMPTY
        group.state = PREPARING_REBALANCE
        timeout = max((m.rebalance_timeout_ms for m in group.members.values()), default=0)
        group.rebalance_deadline = now + timeout / 1000
        # group.initial.rebalance.delay.ms: a new group waits a little for more members, so
        # that consumers started together do not cause one rebalance each.
        delay = self.config.group_initial_rebalance_delay_ms / 1000 if initial else 0.0
        group.join_not_before = now + min(delay, timeout / 1000)
        log.info(
            "group '%s' is rebalancing (generation %d): %s",
            group.group_id,
            group.generation,
            reason,
        )
        self.registry.dirty.add(group.group_id)
        self.registry.wake.set()

    def maybe_complete_join(self, group: Group) -> None:
        if group.state != PREPARING_REBALANCE:
            return
        now = self.registry.loop_time()
        if now < group.join_not_before:
            return
        waiting = [m for m in group.members.values() if m.join_future is not None]
        # As in Kafka (KIP-394), a member that was handed its id with MEMBER_ID_REQUIRED and
        # has not joined with it yet is waited for too: consumers started together then form
        # one generation, instead of a first one without them and a second one with them.
        everyone_joined = len(waiting) == len(group.members) and not group.pending
        if not everyone_joined and now < group.rebalance_deadline:
            return
        for member in list(group.members.values()):
            if member.join_future is None:
                self.remove_member(
                    group, member, "did not rejoin within the rebalance timeout", rebalance=False
                )
        self._complete_join(group)

    def _complete_join(self, group: Group) -> None:
        group.generation += 1
        if not group.members:
            group.state = EMPTY
            group.protocol = ""
            group.leader = ""
            log.info("group '%s' is empty (generation %d)", group.group_id, group.generation)
            self.registry.dirty.add(group.group_id)
            return
        group.protocol = self._select_protocol(group)
        if group.leader not in group.members:
            group.leader = next(iter(group.members))
        group.state = COMPLETING_REBALANCE
        all_members = tuple(
            (m.member_id, m.group_instance_id, m.metadata(group.protocol))
            for m in group.members.values()
        )
        for member in group.members.values():
            member.assignment = b""
            resolve(
                member.join_future,
                _JoinResult(
                    ErrorCode.NONE,
                    group.generation,
                    group.protocol,
                    group.leader,
                    member.member_id,
                    all_members if member.member_id == group.leader else (),
                ),
            )
            member.join_future = None
            member.last_heartbeat = self.registry.loop_time()
        log.info(
            "group '%s' generation %d: %d member(s), assignor %s, leader %s",
            group.group_id,
            group.generation,
            len(group.members),
            group.protocol,
            group.leader,
        )
        self.registry.dirty.add(group.group_id)

    @staticmethod
    def _select_protocol(group: Group) -> str:
        """Kafka's vote: each member picks its most preferred protocol that all support."""
        common = set(group.protocols_in_common())
        votes: dict[str, int] = {}
        for member in group.members.values():
            for name, _ in member.protocols:
                if name in common:
                    votes[name] = votes.get(name, 0) + 1
                    break
        first = next(iter(group.members.values()))
        order = [name for name, _ in first.protocols if name in common]
        return max(order, key=lambda name: (votes.get(name, 0), -order.index(name)))

    def remove_member(
        self, group: Group, member: Member, reason: str, *, rebalance: bool = True
    ) -> None:
        group.members.pop(member.member_id, None)
        resolve(member.join_future, _JoinResult(ErrorCode.UNKNOWN_MEMBER_ID))
        resolve(member.sync_future, (ErrorCode.UNKNOWN_MEMBER_ID, b""))
        log.info("member %s left group '%s': %s", member.member_id, group.group_id, reason)
        self.registry.dirty.add(group.group_id)
        if not rebalance:
            return
        if group.state in (STABLE, COMPLETING_REBALANCE):
            self._prepare_rebalance(group, f"{member.member_id} left")
        # With nobody left to wait for, this completes at once (an empty group: Empty).
        self.maybe_complete_join(group)

    # -- SyncGroup / Heartbeat / LeaveGroup ---------------------------------------------

    async def sync_group(self, conn: ConnectionStats, req: Request):
        error, assignment = await self._sync(conn, req)
        group = self.registry.groups.get(req.body.group_id)
        ok = error == ErrorCode.NONE and group is not None
        return SyncGroupResponse(
            version=req.version,
            throttle_time_ms=0,
            error_code=error,
            protocol_type=group.protocol_type if ok else None,
            protocol_name=group.protocol if ok else None,
            assignment=assignment,
        )

    async def _sync(self, conn: ConnectionStats, req: Request) -> tuple[ErrorCode, bytes]:
        body = req.body
        group = self.registry.groups.get(body.group_id)
        member = group.members.get(body.member_id) if group else None
        instance_id = body.group_instance_id if req.version >= 3 else None
        if group is not None and fenced_instance(group, body.member_id, instance_id):
            return ErrorCode.FENCED_INSTANCE_ID, b""
        if group is None or member is None:
            return ErrorCode.UNKNOWN_MEMBER_ID, b""
        if body.generation_id != group.generation:
            return ErrorCode.ILLEGAL_GENERATION, b""
        if group.state == PREPARING_REBALANCE:
            return ErrorCode.REBALANCE_IN_PROGRESS, b""
        member.last_heartbeat = self.registry.loop_time()
        if group.state == STABLE:
            return ErrorCode.NONE, member.assignment
        future = asyncio.get_running_loop().create_future()
        resolve(member.sync_future, (ErrorCode.REBALANCE_IN_PROGRESS, b""))
        member.sync_future = future
        if member.member_id == group.leader:
            assignments = {a.member_id: bytes(a.assignment or b"") for a in body.assignments}
            for m in group.members.values():
                m.assignment = assignments.get(m.member_id, b"")
            group.state = STABLE
            for m in group.members.values():
                resolve(m.sync_future, (ErrorCode.NONE, m.assignment))
                m.sync_future = None
            log.info(
                "group '%s' generation %d is stable: %s",
                group.group_id,
                group.generation,
                "; ".join(
                    f"{m.member_id} <- {format_partitions(decode_assignment(m.assignment))}"
                    for m in group.members.values()
                ),
            )
            self.registry.dirty.add(group.group_id)
            self.registry.wake.set()
        conn.waiting = "SyncGroup"
        try:
            return await future
        except asyncio.CancelledError:
            if member.sync_future is future:
                member.sync_future = None
            raise
        finally:
            conn.waiting = ""

    async def heartbeat(self, conn: ConnectionStats, req: Request):
        body = req.body
        group = self.registry.groups.get(body.group_id)
        member = group.members.get(body.member_id) if group else None
        instance_id = body.group_instance_id if req.version >= 3 else None
        if group is not None and fenced_instance(group, body.member_id, instance_id):
            error = ErrorCode.FENCED_INSTANCE_ID
        elif group is None or member is None:
            error = ErrorCode.UNKNOWN_MEMBER_ID
        elif body.generation_id != group.generation:
            error = ErrorCode.ILLEGAL_GENERATION
        else:
            member.last_heartbeat = self.registry.loop_time()
            error = (
                ErrorCode.REBALANCE_IN_PROGRESS
                if group.state == PREPARING_REBALANCE
                else ErrorCode.NONE
            )
        return HeartbeatResponse(version=req.version, throttle_time_ms=0, error_code=error)

    async def leave_group(self, conn: ConnectionStats, req: Request):
        body = req.body
        group = self.registry.groups.get(body.group_id)
        if req.version >= 3:
            leaving = [(m.member_id, m.group_instance_id) for m in body.members]
        else:
            leaving = [(body.member_id, None)]
        results = []
        for member_id, instance_id in leaving:
            member = group.members.get(member_id) if group and member_id else None
            if member is None and group and instance_id:
                member = static_member(group, instance_id)
            if member is None:
                results.append((member_id, instance_id, ErrorCode.UNKNOWN_MEMBER_ID))
                continue
            self.remove_member(group, member, "left the group")
            results.append((member.member_id, instance_id, ErrorCode.NONE))
        if req.version >= 3:
            error = ErrorCode.NONE
        else:
            error = results[0][2]
        # Published before the answer: a tool that resets the group's offsets right after the
        # last member left must find it empty, as it would on Kafka.
        await self.publisher.publish_dirty()
        return LeaveGroupResponse(
            version=req.version,
            throttle_time_ms=0,
            error_code=error,
            members=[
                LeaveGroupResponse.MemberResponse(
                    member_id=member_id, group_instance_id=instance_id, error_code=code
                )
                for member_id, instance_id, code in results
            ],
        )


def static_member(group: Group, instance_id: str) -> Member | None:
    return next((m for m in group.members.values() if m.group_instance_id == instance_id), None)


def fenced_instance(group: Group, member_id: str, instance_id: str | None) -> bool:
    """Whether a request of ``member_id`` as static member ``instance_id`` comes from an
    incarnation that a newer one with the same instance id replaced (KIP-345)."""
    if instance_id is None:
        return False
    current = static_member(group, instance_id)
    return current is not None and current.member_id != member_id


def resolve(future: asyncio.Future | None, value) -> None:
    if future is not None and not future.done():
        future.set_result(value)
