"""DescribeGroups, ListGroups and DeleteGroups: the groups of this coordinator (from memory)
and of kcli's own consumers (from ``GroupStore``), side by side."""

from __future__ import annotations

import logging

from kcli.serve.consumer_protocol import (
    CONSUMER_PROTOCOL_TYPE,
    encode_assignment,
    encode_subscription,
)
from kcli.serve.errors import group_error_code
from kcli.serve.group_registry import GroupRegistry
from kcli.serve.group_state import DEAD, STABLE, Group
from kcli.serve.group_timers import GroupPublisher
from kcli.serve.protocol import (
    DeleteGroupsResponse,
    DescribeGroupsResponse,
    ErrorCode,
    ListGroupsResponse,
    Request,
)
from kcli.serve.stats import ConnectionStats
from storage import StorageError

log = logging.getLogger("kcli.serve")

# Every group here speaks the classic protocol (ListGroups v5's group types).
CLASSIC_GROUP_TYPE = "classic"


class GroupAdmin:
    """Handlers that describe, list and delete groups."""

    def __init__(self, registry: GroupRegistry, publisher: GroupPublisher):
        self.registry = registry
        self.publisher = publisher

    # -- DescribeGroups / ListGroups ------------------------------------------------------

    async def describe_groups(self, conn: ConnectionStats, req: Request):
        described = []
        for group_id in req.body.groups:
            group = self.registry.groups.get(group_id)
            if group is not None:
                described.append(self._describe_live(group))
            else:
                described.append(await self.registry.run(self._describe_stored, group_id))
        return DescribeGroupsResponse(version=req.version, throttle_time_ms=0, groups=described)

    @staticmethod
    def _describe_live(group: Group):
        group_cls = DescribeGroupsResponse.DescribedGroup
        stable = group.state == STABLE
        return group_cls(
            error_code=0,
            group_id=group.group_id,
            group_state=group.state,
            protocol_type=group.protocol_type,
            protocol_data=group.protocol if stable else "",
            members=[
                group_cls.DescribedGroupMember(
                    member_id=m.member_id,
                    group_instance_id=m.group_instance_id,
                    client_id=m.client_id,
                    client_host=m.client_host,
                    member_metadata=m.metadata(group.protocol) if stable else b"",
                    member_assignment=m.assignment if stable else b"",
                )
                for m in group.members.values()
            ],
            authorized_operations=None,
        )

    def _describe_stored(self, group_id: str):
        from storage.groups import GroupNotFound

        group_cls = DescribeGroupsResponse.DescribedGroup
        try:
            desc = self.registry.group_store.describe_group(group_id)
        except GroupNotFound:
            return group_cls(
                error_code=0,
                group_id=group_id,
                group_state=DEAD,
                protocol_type="",
                protocol_data="",
                members=[],
                authorized_operations=None,
            )
        except StorageError as exc:
            log.info("describing group '%s' failed: %s", group_id, exc)
            return group_cls(
                error_code=group_error_code(exc),
                group_id=group_id,
                group_state="",
                protocol_type="",
                protocol_data="",
                members=[],
                authorized_operations=None,
            )
        return group_cls(
            error_code=0,
            group_id=group_id,
            group_state=desc.state,
            protocol_type=desc.protocol_type or (CONSUMER_PROTOCOL_TYPE if desc.members else ""),
            protocol_data=desc.assignor,
            members=[
                group_cls.DescribedGroupMember(
                    member_id=m.member_id,
                    group_instance_id=None,
                    client_id=m.client_id,
                    client_host=m.host,
                    member_metadata=encode_subscription(m.topics),
                    member_assignment=encode_assignment(m.assignment),
                )
                for m in desc.members
            ],
            authorized_operations=None,
        )

    async def list_groups(self, conn: ConnectionStats, req: Request):
        try:
            stored = await self.registry.run(self.registry.group_store.list_groups)
            error = ErrorCode.NONE
        except StorageError as exc:
            log.info("listing groups failed: %s", exc)
            stored, error = [], ErrorCode.UNKNOWN_SERVER_ERROR
        listed = {s.group: (CONSUMER_PROTOCOL_TYPE, s.state) for s in stored}
        for group in self.registry.groups.values():
            listed[group.group_id] = (group.protocol_type or CONSUMER_PROTOCOL_TYPE, group.state)
        body = req.body
        states = {s.lower() for s in body.states_filter or ()} if req.version >= 4 else set()
        types = {t.lower() for t in body.types_filter or ()} if req.version >= 5 else set()
        return ListGroupsResponse(
            version=req.version,
            throttle_time_ms=0,
            error_code=error,
            groups=[
                ListGroupsResponse.ListedGroup(
                    group_id=g, protocol_type=t, group_state=state, group_type=CLASSIC_GROUP_TYPE
                )
                for g, (t, state) in sorted(listed.items())
                if (not states or state.lower() in states)
                and (not types or CLASSIC_GROUP_TYPE in types)
            ],
        )

    # -- DeleteGroups ---------------------------------------------------------------------

    async def delete_groups(self, conn: ConnectionStats, req: Request):
        results = []
        for group_id in req.body.groups_names:
            group = self.registry.groups.get(group_id)
            if group is not None and (group.members or group.pending):
                error = ErrorCode.NON_EMPTY_GROUP
            else:
                # Publish the group's final (empty) state first, so that the store does not
                # see the members of an older snapshot, and a later publication does not
                # bring the deleted group back.
                snapshot = None
                if group is not None:
                    snapshot = self.publisher.snapshot(group)
                    del self.registry.groups[group_id]
                self.registry.dirty.discard(group_id)
                try:
                    await self.registry.run(self._delete_group, group_id, snapshot)
                    error = ErrorCode.NONE
                    log.info("%s deleted group '%s'", conn.label, group_id)
                except StorageError as exc:
                    error = group_error_code(exc)
            results.append(
                DeleteGroupsResponse.DeletableGroupResult(group_id=group_id, error_code=error)
            )
        return DeleteGroupsResponse(version=req.version, throttle_time_ms=0, results=results)

    def _delete_group(self, group_id: str, snapshot: dict | None) -> None:
        if snapshot is not None:
            self.publisher.publish([snapshot])
        self.registry.group_store.delete_group(group_id)
