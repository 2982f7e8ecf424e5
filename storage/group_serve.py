"""Groups coordinated by ``kcli serve``: the snapshot a wire coordinator publishes in the store.

A group whose members are Kafka clients is coordinated in memory by ``kcli serve``; it claims
the group in the store (so kcli processes cannot join it meanwhile) and publishes a snapshot of
its members, so that ``kcli group`` commands show it.  A snapshot counts only while the process
that published it runs (as far as this host can tell).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from storage.group_files import GroupFiles, GroupPart
from storage.group_membership import GroupMembership
from storage.group_types import (
    COORDINATOR_KCLI,
    COORDINATOR_SERVE,
    GroupProtocolMismatch,
    MemberDescription,
    _GroupState,
    validate_group_id,
)


class ServeGroups(GroupPart):
    """Claiming and publishing groups coordinated over the wire (a part of GroupStore)."""

    def __init__(self, files: GroupFiles, membership: GroupMembership):
        super().__init__(files)
        self._membership = membership

    # -- groups coordinated by kcli serve --------------------------------------------------

    def claim_external(self, group: str) -> None:
        """Mark the group as coordinated by this process (kcli serve) before it accepts a
        JoinGroup; GroupProtocolMismatch while kcli-process members are live in it."""
        validate_group_id(group)
        with self._lock(group):
            now = self._now()
            state = self._read_state(group) or _GroupState(group=group)
            if state.coordinator == COORDINATOR_KCLI:
                self._membership.maintain(state, now)
                if state.members:
                    raise GroupProtocolMismatch(
                        f"group '{group}' has {len(state.members)} live kcli consumer(s) "
                        f"(kcli consume / the Python Consumer); a Kafka client cannot join it "
                        f"until they leave — use another group id"
                    )
            state.coordinator = COORDINATOR_SERVE
            state.members = {}
            state.assignment = {}
            state.external = {
                **state.external,
                "pid": os.getpid(),
                "host": self.host,
                "published_ms": now,
            }
            self._write_state(state)

    def publish_external(
        self,
        group: str,
        *,
        state: str,
        generation: int,
        protocol_type: str,
        assignor: str,
        members: Sequence[MemberDescription],
        group_type: str = "classic",
        assignment_epoch: int = -1,
    ) -> None:
        """Publish a snapshot of a group that kcli serve coordinates over the wire, so that
        ``kcli group`` commands show it.  Once the publishing process stops, it shows Empty."""
        validate_group_id(group)
        with self._lock(group):
            now = self._now()
            current = self._read_state(group) or _GroupState(group=group)
            if current.coordinator == COORDINATOR_KCLI:
                self._membership.maintain(current, now)
                if current.members:
                    raise GroupProtocolMismatch(
                        f"group '{group}' has {len(current.members)} live kcli consumer(s); "
                        f"it cannot also be coordinated by kcli serve"
                    )
            current.coordinator = COORDINATOR_SERVE
            current.state = state
            current.generation = int(generation)
            current.protocol_type = protocol_type
            current.assignor = assignor
            current.members = {}
            current.assignment = {}
            current.external = {
                "pid": os.getpid(),
                "host": self.host,
                "published_ms": now,
                "group_type": group_type,
                "assignment_epoch": int(assignment_epoch),
                "members": [
                    {
                        "member_id": m.member_id,
                        "client_id": m.client_id,
                        "host": m.host,
                        "pid": m.pid,
                        "topics": list(m.topics),
                        "assignment": [list(tp) for tp in m.assignment],
                        "last_heartbeat_ms": m.last_heartbeat_ms,
                        "group_instance_id": m.group_instance_id,
                        "member_epoch": m.member_epoch,
                        "target_assignment": None
                        if m.target_assignment is None
                        else [list(tp) for tp in m.target_assignment],
                    }
                    for m in members
                ],
            }
            self._write_state(current, durable=False)
