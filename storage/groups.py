"""Consumer groups without a broker: members, generations, assignments and committed offsets.

Kafka keeps a group's state in its group coordinator.  kcli has no broker, so the state lives
in the store and every member does the coordinator's bookkeeping itself, under a per-group file
lock::

    <data-dir>/groups/<group>/state.json     members, generation, assignment (the coordinator)
    <data-dir>/groups/<group>/offsets.json   committed offsets (the __consumer_offsets topic)
    <data-dir>/groups/.<group>.lock          the lock every change to the group takes

(``<group>`` is the group id with every character outside ``a-z 0-9 . _ -`` percent-encoded, so
that no group id can leave the directory and ``G`` and ``g`` stay apart on case-insensitive
file systems.)

The protocol is Kafka's classic rebalance protocol, played out in files (eager below; with
``cooperative-sticky`` it is cooperative, see ``storage.group_protocols``):

1. A member *joins*: it registers (member id, client id, host, pid, topics, assignors,
   ``session.timeout.ms``) and the group enters ``PreparingRebalance``.
2. Every other member learns of the rebalance from its next heartbeat, stops fetching, commits,
   revokes its partitions and *rejoins*.
3. When every member has rejoined, the one that rejoined last runs the group's assignor once,
   stores the assignment under generation N+1 and the group is ``Stable``.
4. A clean leave, or a member whose last heartbeat is older than ``session.timeout.ms``, or a
   member that does not rejoin within its rebalance timeout, or a change in the partition count
   of a subscribed topic, starts the next rebalance the same way.

So a partition has at most one owner per generation, and no member is given a partition before
its previous owner has revoked it (or was removed for missing its heartbeats, after which it
no longer fetches).  Commits carry the member id and generation, and stale ones are refused.

Every file is replaced atomically (temp file, fsync, rename); readers never take the lock.

``GroupStore`` is composed of one part per concept, each an object of its own working on the
store's one ``GroupFiles`` (``group_files``: paths, locks, the state file): ``group_membership``
(join, heartbeat, leave, rebalance), ``group_offsets`` (committed offsets), ``group_reset``
(lag and offset resets) and ``group_serve`` (groups coordinated by ``kcli serve``); the
values, errors and constants live in ``group_types`` and are re-exported here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from storage.errors import StorageError
from storage.fileio import fsync_dir
from storage.group_files import GroupFiles, GroupPart
from storage.group_membership import GroupMembership
from storage.group_offsets import CommittedOffsets
from storage.group_protocols import rebalance_protocol
from storage.group_reset import GroupResets
from storage.group_serve import ServeGroups
from storage.group_types import (
    COMPLETING_REBALANCE,
    COORDINATOR_KCLI,
    COORDINATOR_SERVE,
    DEAD,
    DEFAULT_HEARTBEAT_INTERVAL_MS,
    DEFAULT_MAX_POLL_INTERVAL_MS,
    DEFAULT_SESSION_TIMEOUT_MS,
    EMPTY,
    GROUP_ID_MAX_LENGTH,
    LOCK_TIMEOUT_S,
    OFFSETS_FILE,
    PREPARING_REBALANCE,
    PROTOCOL_TYPE,
    STABLE,
    STATE_FILE,
    FencedInstanceId,
    GroupDescription,
    GroupError,
    GroupNotEmpty,
    GroupNotFound,
    GroupProtocolMismatch,
    GroupSummary,
    IllegalGeneration,
    InconsistentGroupProtocol,
    InvalidGroupId,
    InvalidSessionTimeout,
    MemberDescription,
    MemberView,
    OffsetAndMetadata,
    OffsetReset,
    PartitionOffsets,
    RebalanceInProgress,
    RebalanceRecord,
    ResetSpec,
    UnknownMemberId,
    _as_tp_list,
    _GroupState,
    group_dir_name,
    group_not_empty_message,
    group_not_found_message,
    validate_group_id,
)

if TYPE_CHECKING:
    from storage.store import Store

# storage.groups is the API: the names of group_types are re-exported from here.
__all__ = [
    "COMPLETING_REBALANCE",
    "COORDINATOR_KCLI",
    "COORDINATOR_SERVE",
    "DEAD",
    "DEFAULT_HEARTBEAT_INTERVAL_MS",
    "DEFAULT_MAX_POLL_INTERVAL_MS",
    "DEFAULT_SESSION_TIMEOUT_MS",
    "EMPTY",
    "GROUP_ID_MAX_LENGTH",
    "LOCK_TIMEOUT_S",
    "OFFSETS_FILE",
    "PREPARING_REBALANCE",
    "PROTOCOL_TYPE",
    "STABLE",
    "STATE_FILE",
    "GroupDescription",
    "GroupError",
    "GroupNotEmpty",
    "GroupNotFound",
    "GroupProtocolMismatch",
    "GroupSummary",
    "IllegalGeneration",
    "InconsistentGroupProtocol",
    "InvalidGroupId",
    "FencedInstanceId",
    "InvalidSessionTimeout",
    "MemberDescription",
    "MemberView",
    "OffsetAndMetadata",
    "OffsetReset",
    "PartitionOffsets",
    "RebalanceInProgress",
    "RebalanceRecord",
    "ResetSpec",
    "UnknownMemberId",
    "group_dir_name",
    "group_not_empty_message",
    "group_not_found_message",
    "validate_group_id",
    "GroupStore",
]


# -- the group store ---------------------------------------------------------------------------


class GroupStore(GroupPart):
    """Consumer-group state in a store: membership, generations, assignments, offsets.

    Safe to use from many processes and threads at once: every change takes the group's file
    lock and replaces the group's files atomically; reads take no lock.

    Composed of one part per concept, all on the store's one ``GroupFiles``: ``membership``
    (join, heartbeat, leave, rebalance), ``offsets`` (committed offsets), ``resets`` (lag and
    offset resets) and ``serve`` (groups coordinated by kcli serve).  Their public methods
    are the group store's.
    """

    def __init__(self, store: Store, clock=None):
        super().__init__(GroupFiles(store, clock))
        self.clock = self._files.clock
        self.groups_dir = self._files.groups_dir
        self.membership = GroupMembership(self._files)
        self.offsets = CommittedOffsets(self._files, self.membership)
        self.resets = GroupResets(
            self._files, self.offsets, self.describe_group, self._raise_if_live
        )
        self.serve = ServeGroups(self._files, self.membership)
        # The group store's API, each method from the part that owns it.
        self.join_group = self.membership.join_group
        self.heartbeat = self.membership.heartbeat
        self.peek = self.membership.peek
        self.leave_group = self.membership.leave_group
        self.commit_offsets = self.offsets.commit_offsets
        self.commit_offsets_trusted = self.offsets.commit_offsets_trusted
        self.fetch_offsets = self.offsets.fetch_offsets
        self.delete_offsets = self.offsets.delete_offsets
        self.partition_offsets = self.resets.partition_offsets
        self.plan_reset = self.resets.plan_reset
        self.check_inactive = self.resets.check_inactive
        self.execute_reset = self.resets.execute_reset
        self.claim_external = self.serve.claim_external
        self.publish_external = self.serve.publish_external

    # -- inspection ------------------------------------------------------------------------

    def _describe_state(self, group: str, state: _GroupState | None) -> GroupDescription:
        if state is None:
            return GroupDescription(group, EMPTY, PROTOCOL_TYPE, "", 0, COORDINATOR_KCLI, ())
        if state.coordinator == COORDINATOR_SERVE:
            alive = self._external_alive(state)
            members = tuple(
                MemberDescription(
                    member_id=m["member_id"],
                    client_id=m.get("client_id", ""),
                    host=m.get("host", ""),
                    pid=m.get("pid"),
                    topics=tuple(m.get("topics", ())),
                    assignment=_as_tp_list(m.get("assignment", ())),
                    last_heartbeat_ms=int(m.get("last_heartbeat_ms", -1)),
                    group_instance_id=m.get("group_instance_id"),
                    member_epoch=m.get("member_epoch"),
                    target_assignment=None
                    if m.get("target_assignment") is None
                    else _as_tp_list(m["target_assignment"]),
                )
                for m in (state.external.get("members", []) if alive else [])
            )
            return GroupDescription(
                group=group,
                state=state.state if alive and members else EMPTY,
                protocol_type=state.protocol_type,
                assignor=state.assignor if alive and members else "",
                generation=state.generation,
                coordinator=COORDINATOR_SERVE,
                members=members,
                group_type=state.external.get("group_type", "classic"),
                assignment_epoch=int(state.external.get("assignment_epoch", -1)),
            )
        self.membership.maintain(state, self._now())
        stable = state.state == STABLE
        members = tuple(
            MemberDescription(
                member_id=mid,
                client_id=m["client_id"],
                host=m["host"],
                pid=m.get("pid"),
                topics=tuple(m["topics"]),
                assignment=_as_tp_list(state.assignment.get(mid, [])) if stable else (),
                last_heartbeat_ms=int(m["last_heartbeat_ms"]),
                group_instance_id=m.get("instance_id"),
            )
            for mid, m in sorted(state.members.items())
        )
        return GroupDescription(
            group=group,
            state=state.state,
            protocol_type=state.protocol_type,
            assignor=state.assignor,
            generation=state.generation,
            coordinator=state.coordinator,
            members=members,
            protocol=rebalance_protocol(state.assignor) if state.assignor else "",
            rebalances=tuple(RebalanceRecord.from_json(r) for r in state.rebalances),
        )

    def describe_group(self, group: str) -> GroupDescription:
        """The group's state, assignor, generation and members (GroupNotFound if none)."""
        validate_group_id(group)
        state = self._read_state(group)
        if state is None and not self._exists(group):
            raise GroupNotFound(self._not_found_message(group))
        return self._describe_state(group, state)

    def _not_found_message(self, group: str) -> str:
        return group_not_found_message(group, [g.group for g in self.list_groups()])

    def list_groups(self) -> list[GroupSummary]:
        """Every group with state or committed offsets in this store, by group id."""
        out = []
        try:
            entries = sorted(os.scandir(self.groups_dir), key=lambda e: e.name)
        except FileNotFoundError:
            return []
        for entry in entries:
            if not entry.is_dir() or entry.name.startswith("."):
                continue
            group = self._group_id_of(Path(entry.path))
            if group is None:
                continue
            try:
                d = self._describe_state(group, self._read_state(group))
            except StorageError:
                continue
            out.append(
                GroupSummary(
                    d.group, d.state, len(d.members), d.assignor, d.generation, d.coordinator
                )
            )
        return sorted(out, key=lambda s: s.group)

    def _group_id_of(self, d: Path) -> str | None:
        for name in (STATE_FILE, OFFSETS_FILE):
            try:
                raw = json.loads((d / name).read_text())
            except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
                continue
            group = raw.get("group")
            if isinstance(group, str) and group_dir_name(group) == d.name:
                return group
        return None

    # -- administration --------------------------------------------------------------------

    def delete_group(self, group: str) -> None:
        """Delete the group's state and committed offsets; GroupNotEmpty while it has members."""
        validate_group_id(group)
        with self._lock(group):
            if not self._exists(group):
                raise GroupNotFound(self._not_found_message(group))
            state = self._read_state(group)
            if state is not None:
                self._raise_if_live(group, state, "deleted")
            d = self.group_path(group)
            for name in (STATE_FILE, OFFSETS_FILE):
                try:
                    (d / name).unlink()
                except FileNotFoundError:
                    pass
            for leftover in d.iterdir():
                if leftover.name.endswith(".tmp"):
                    leftover.unlink()
            try:
                d.rmdir()
            except OSError:
                pass
            fsync_dir(self.groups_dir)
            self._files.forget(group)

    def _raise_if_live(self, group: str, state: _GroupState, verb: str) -> None:
        desc = self._describe_state(group, state)
        if desc.members:
            raise GroupNotEmpty(group_not_empty_message(group, list(desc.members), verb))
