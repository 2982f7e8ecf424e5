"""Group membership: joins, heartbeats, leaves and the rebalances that assign partitions.

``GroupMembership`` is the part of ``storage.groups.GroupStore`` that plays Kafka's group
coordinator for kcli processes (see ``storage.groups`` for the protocol): it expires silent
members, moves the group through ``PreparingRebalance`` to ``Stable`` under generation N+1 and
runs the group's assignor once per rebalance — eagerly or cooperatively, with static
members kept in place across restarts (the rules are in ``storage.group_protocols``).  It
works on the store's group files and locks through the ``GroupFiles`` it is given.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Sequence

from storage.assignors import (
    UnknownAssignor,
    assign,
    parse_strategy,
    select_protocol,
)
from storage.errors import StorageError
from storage.group_files import GroupPart
from storage.group_protocols import (
    REBALANCE_HISTORY,
    rebalance_record,
    rejoin_changes_metadata,
    replace_static_member,
    static_member,
    subscriptions,
)
from storage.group_types import (
    COORDINATOR_KCLI,
    COORDINATOR_SERVE,
    DEFAULT_MAX_POLL_INTERVAL_MS,
    DEFAULT_SESSION_TIMEOUT_MS,
    EMPTY,
    PREPARING_REBALANCE,
    STABLE,
    FencedInstanceId,
    GroupProtocolMismatch,
    InconsistentGroupProtocol,
    InvalidGroupId,
    InvalidSessionTimeout,
    MemberView,
    UnknownMemberId,
    _as_tp_list,
    _GroupState,
    validate_group_id,
)


class GroupMembership(GroupPart):
    """Membership and generations of a group of kcli processes (a part of GroupStore)."""

    # -- the coordinator's bookkeeping ------------------------------------------------------

    def maintain(self, state: _GroupState, now: int) -> bool:
        """Expire silent members and complete a rebalance that can complete.  True if changed."""
        if state.coordinator == COORDINATOR_SERVE:
            return False
        changed = False
        gone = [
            mid
            for mid, m in state.members.items()
            if now - int(m["last_heartbeat_ms"]) > int(m["session_timeout_ms"])
            or (
                state.state == PREPARING_REBALANCE
                and not m.get("rejoined")
                and now > state.rebalance_deadline_ms
            )
        ]
        for mid in gone:
            del state.members[mid]
            changed = True
        if gone:
            self._prepare_rebalance(state, now)
        if self._try_complete(state):
            changed = True
        return changed

    def _prepare_rebalance(self, state: _GroupState, now: int) -> None:
        if state.state == PREPARING_REBALANCE:
            return
        state.state = PREPARING_REBALANCE
        for m in state.members.values():
            m["rejoined"] = False
        # Like Kafka's rebalance timeout (max.poll.interval.ms), but never shorter than a session,
        # so that a member whose heartbeats fail stops fetching before it can be removed.
        state.rebalance_deadline_ms = now + max(
            [
                max(int(m["rebalance_timeout_ms"]), int(m["session_timeout_ms"]))
                for m in state.members.values()
            ]
            or [0]
        )

    def _partition_counts(self, topics: Iterable[str]) -> dict[str, int]:
        counts = {}
        for topic in sorted(set(topics)):
            try:
                counts[topic] = self.store.topic(topic).partitions
            except StorageError:
                continue  # not created yet (or an invalid name): nothing to assign
        return counts

    def _try_complete(self, state: _GroupState) -> bool:
        if state.state != PREPARING_REBALANCE:
            return False
        if any(not m.get("rejoined") for m in state.members.values()):
            return False
        subs = subscriptions(state.members, state.assignment, state.generation)
        state.generation += 1
        state.rebalance_deadline_ms = 0
        if not state.members:
            state.state = EMPTY
            state.assignor = ""
            state.assignment = {}
            state.partitions = {}
            return True
        prefs = {mid: m["assignors"] for mid, m in state.members.items()}
        assignor = select_protocol(prefs) or ""
        counts = self._partition_counts(t for m in state.members.values() for t in m["topics"])
        result = assign(assignor, counts, subs)
        record = rebalance_record(state.generation, assignor, subs, result, self._now())
        state.rebalances = [*state.rebalances, record][-REBALANCE_HISTORY:]
        state.assignor = assignor
        state.assignment = {mid: [[t, p] for t, p in tps] for mid, tps in result.items()}
        state.partitions = counts
        state.state = STABLE
        return True

    def _metadata_changed(self, state: _GroupState) -> bool:
        if state.state != STABLE or not state.members:
            return False
        topics = {t for m in state.members.values() for t in m["topics"]}
        return self._partition_counts(topics) != state.partitions

    def _view(self, state: _GroupState, member_id: str) -> MemberView:
        m = state.members[member_id]
        assignment = None
        if state.state == STABLE and member_id in state.assignment:
            assignment = _as_tp_list(state.assignment[member_id])
        return MemberView(
            member_id=member_id,
            group_state=state.state,
            generation=state.generation,
            assignor=state.assignor,
            rejoin_needed=state.state == PREPARING_REBALANCE and not m.get("rejoined"),
            assignment=assignment,
            session_timeout_ms=int(m["session_timeout_ms"]),
        )

    def unknown_member(
        self, group: str, member_id: str, state: _GroupState | None = None, instance_id=None
    ) -> UnknownMemberId | FencedInstanceId:
        """The error for a member id the group does not know: FencedInstanceId if another
        member now holds its ``group.instance.id``, UnknownMemberId otherwise."""
        holder = static_member(state.members, instance_id) if state is not None else None
        if holder is not None and holder != member_id:
            return FencedInstanceId(
                f"member '{member_id}' of group '{group}' was fenced: another consumer joined "
                f"with the same group.instance.id '{instance_id}' and took its place; give "
                f"each consumer its own group.instance.id"
            )
        return UnknownMemberId(
            f"member '{member_id}' is not a member of group '{group}': it left, or missed its "
            f"heartbeats for longer than session.timeout.ms and was removed; rejoin the group"
        )

    # -- membership (kcli processes) -----------------------------------------------------------

    def join_group(
        self,
        group: str,
        *,
        topics: Sequence[str],
        assignors: Sequence[str] | str = ("range", "roundrobin"),
        client_id: str = "kcli",
        member_id: str = "",
        host: str | None = None,
        pid: int | None = None,
        session_timeout_ms: int = DEFAULT_SESSION_TIMEOUT_MS,
        rebalance_timeout_ms: int = DEFAULT_MAX_POLL_INTERVAL_MS,
        instance_id: str | None = None,
        owned: Iterable[Sequence] | None = None,
        owned_generation: int = -1,
    ) -> MemberView:
        """Join (``member_id=""``: as a new member) or rejoin the group.

        A new member, or a member whose subscription changed, starts a rebalance.  An eager
        member that was asked to rejoin acknowledges with this call that it has revoked all
        its partitions; a cooperative one reports the partitions it still ``owned`` (and the
        generation it was given them in), and a rejoin owning less than before starts the
        follow-up rebalance that hands its revoked partitions on.  A static member
        (``instance_id``, KIP-345) joining under a new member id takes its old member's place
        and partitions, without a rebalance.  The returned view has an ``assignment`` once the
        rebalance has completed.
        """
        validate_group_id(group)
        try:
            prefs = list(parse_strategy(assignors))
        except UnknownAssignor as exc:
            raise InconsistentGroupProtocol(str(exc)) from None
        if session_timeout_ms < 1 or rebalance_timeout_ms < 1:
            raise InvalidSessionTimeout(
                f"session.timeout.ms ({session_timeout_ms}) and max.poll.interval.ms "
                f"({rebalance_timeout_ms}) must be positive"
            )
        topic_list = sorted(set(topics))
        if not topic_list:
            raise InvalidGroupId(
                f"a member of group '{group}' must subscribe to at least one topic"
            )
        with self._lock(group):
            now = self._now()
            state = self._read_state(group) or _GroupState(group=group)
            if state.coordinator == COORDINATOR_SERVE:
                if self._external_alive(state) and state.external.get("members"):
                    raise GroupProtocolMismatch(
                        f"group '{group}' is being coordinated by kcli serve over the Kafka "
                        f"protocol and has {len(state.external['members'])} member(s) there; "
                        f"use another group id, or stop those clients first"
                    )
                state.coordinator = COORDINATOR_KCLI
                state.external = {}
                state.members = {}
                state.state = EMPTY
            self.maintain(state, now)
            others = {mid: m["assignors"] for mid, m in state.members.items() if mid != member_id}
            if others and select_protocol({**others, "": prefs}) is None:
                used = state.assignor or ", ".join(sorted({a for v in others.values() for a in v}))
                raise InconsistentGroupProtocol(
                    f"group '{group}' uses partition.assignment.strategy {used}, and "
                    f"this member supports only {', '.join(prefs)}; members of one group must "
                    f"share at least one assignor"
                )
            record = {
                "client_id": client_id,
                "host": host or self.host,
                "pid": os.getpid() if pid is None else pid,
                "topics": topic_list,
                "assignors": prefs,
                "session_timeout_ms": int(session_timeout_ms),
                "rebalance_timeout_ms": int(rebalance_timeout_ms),
                "last_heartbeat_ms": now,
                "rejoined": True,
            }
            if instance_id:
                record["instance_id"] = instance_id
            if owned is not None:
                record["owned"] = [[str(t), int(p)] for t, p in owned]
                record["owned_generation"] = int(owned_generation)
            static = static_member(state.members, instance_id)
            if member_id:
                current = state.members.get(member_id)
                if current is None:
                    raise self.unknown_member(group, member_id, state, instance_id)
                changed = rejoin_changes_metadata(current, record)
                record["joined_ms"] = current.get("joined_ms", now)
                state.members[member_id] = record
                if changed or state.state != STABLE:
                    self._prepare_rebalance(state, now)
                    record["rejoined"] = True
            elif static is not None:
                # A static member back (a restart): same place, same partitions, same
                # generation; its old member id is fenced.
                member_id = f"{client_id}-{uuid.uuid4()}"
                record["joined_ms"] = now
                if replace_static_member(
                    state.members, state.assignment, static, member_id, record
                ):
                    self._prepare_rebalance(state, now)
                    record["rejoined"] = True
            else:
                member_id = f"{client_id}-{uuid.uuid4()}"
                record["joined_ms"] = now
                self._prepare_rebalance(state, now)
                state.members[member_id] = record
            self._try_complete(state)
            self._write_state(state)
            return self._view(state, member_id)

    def heartbeat(self, group: str, member_id: str, instance_id: str | None = None) -> MemberView:
        """Record that the member is alive and tell it where the group stands.

        Raises UnknownMemberId once the member has been removed (session expired, or it did not
        rejoin within its rebalance timeout), FencedInstanceId once another consumer took its
        ``group.instance.id``.
        """
        with self._lock(group):
            now = self._now()
            state = self._read_state(group)
            if state is None or state.coordinator == COORDINATOR_SERVE:
                raise self.unknown_member(group, member_id)
            changed = self.maintain(state, now)
            if member_id not in state.members:
                if changed:
                    self._write_state(state)
                raise self.unknown_member(group, member_id, state, instance_id)
            if self._metadata_changed(state):
                self._prepare_rebalance(state, now)
                changed = True
            state.members[member_id]["last_heartbeat_ms"] = now
            # A heartbeat alone need not survive a power cut; membership changes must.
            self._write_state(state, durable=changed)
            return self._view(state, member_id)

    def peek(self, group: str, member_id: str) -> tuple[MemberView | None, bool]:
        """The member's view without taking the lock, and whether the group needs a locked
        operation now (a member is past its session or rebalance timeout).

        The view is None if the member is not in the group.  Cheap: the state file is only
        re-read when it changed.
        """
        state = self._read_state(group, copy=False)
        if state is None or member_id not in state.members:
            return None, False
        now = self._now()
        due = any(
            now - int(m["last_heartbeat_ms"]) > int(m["session_timeout_ms"])
            for m in state.members.values()
        ) or (state.state == PREPARING_REBALANCE and now > state.rebalance_deadline_ms)
        return self._view(state, member_id), due

    def leave_group(self, group: str, member_id: str) -> None:
        """Leave cleanly: the remaining members rebalance at once (no session timeout)."""
        with self._lock(group):
            now = self._now()
            state = self._read_state(group)
            if state is None or member_id not in state.members:
                return
            del state.members[member_id]
            self._prepare_rebalance(state, now)
            self.maintain(state, now)
            self._write_state(state)
