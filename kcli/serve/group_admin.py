"""DescribeGroups, ConsumerGroupDescribe, ListGroups and DeleteGroups: the groups of this
coordinator (from memory) and of kcli's own consumers (from ``GroupStore``), side by side."""

from __future__ import annotations

import logging

from kcli.serve.consumer_group_state import CONSUMER_GROUP_TYPE, ConsumerGroup
from kcli.serve.consumer_protocol import (
    CONSUMER_PROTOCOL_TYPE,
    encode_assignment,
    encode_subscription,
    partitions_by_topic,
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
from kcli.serve.schemas import ConsumerGroupDescribeResponse
from kcli.serve.stats import ConnectionStats
from storage import StorageError

log = logging.getLogger("kcli.serve")

# ListGroups v5's and DescribeGroups' type of a group that is not a consumer-protocol one.
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
            if group_id in self.registry.consumer_groups:
                # As Kafka: DescribeGroups describes classic groups only (admin clients
                # ask ConsumerGroupDescribe first, and this only for the groups it refuses).
                described.append(
                    _failed_group(
                        group_id,
                        ErrorCode.GROUP_ID_NOT_FOUND,
                        f"Group {group_id} is not a classic group.",
                    )
                )
            elif group is not None:
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
            return _failed_group(group_id, group_error_code(exc), str(exc))
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

    async def consumer_group_describe(self, conn: ConnectionStats, req: Request):
        """ConsumerGroupDescribe: consumer-protocol groups, with each member's epoch, current
        and target assignment; any other group id is GROUP_ID_NOT_FOUND, as Kafka answers."""
        groups = [
            (group_id, self.registry.consumer_groups.get(group_id))
            for group_id in req.body.group_ids
        ]
        wanted = {tp[0] for _, g in groups if g for m in g.members.values() for tp in m.owns()}
        wanted |= {t for _, g in groups if g for tps in g.target.values() for t, _ in tps}
        ids = await self.registry.catalog.ids(wanted)
        return ConsumerGroupDescribeResponse(
            version=req.version,
            throttle_time_ms=0,
            groups=[self._describe_consumer(group_id, g, ids) for group_id, g in groups],
        )

    def _describe_consumer(self, group_id: str, group: ConsumerGroup | None, ids: dict):
        group_cls = ConsumerGroupDescribeResponse.DescribedGroup
        member_cls = group_cls.Member
        if group is None:
            message = (
                f"Group {group_id} is not a consumer group."
                if group_id in self.registry.groups
                else f"Group {group_id} not found."
            )
            return group_cls(
                error_code=ErrorCode.GROUP_ID_NOT_FOUND if group_id else ErrorCode.INVALID_GROUP_ID,
                error_message=message,
                group_id=group_id,
                group_state="",
                group_epoch=-1,
                assignment_epoch=-1,
                assignor_name="",
                members=[],
            )

        def assignment(tps):
            entry = member_cls.Assignment.TopicPartitions
            return member_cls.Assignment(
                topic_partitions=[
                    entry(topic_id=ids[t], topic_name=t, partitions=ps)
                    for t, ps in partitions_by_topic(tps).items()
                    if t in ids
                ]
            )

        return group_cls(
            error_code=0,
            error_message=None,
            group_id=group_id,
            group_state=group.state,
            group_epoch=group.group_epoch,
            assignment_epoch=group.assignment_epoch,
            assignor_name=group.assignor,
            members=[
                member_cls(
                    member_id=m.member_id,
                    instance_id=m.instance_id,
                    rack_id=m.rack_id,
                    member_epoch=m.member_epoch,
                    client_id=m.client_id,
                    client_host=m.client_host,
                    subscribed_topic_names=list(m.subscribed_topic_names),
                    subscribed_topic_regex=m.subscribed_topic_regex,
                    assignment=assignment(m.assigned),
                    target_assignment=assignment(group.target.get(m.member_id, ())),
                    member_type=1,  # KIP-1099: a member of the consumer protocol
                )
                for m in group.members.values()
            ],
        )

    async def list_groups(self, conn: ConnectionStats, req: Request):
        try:
            stored = await self.registry.run(self.registry.group_store.list_groups)
            error = ErrorCode.NONE
        except StorageError as exc:
            log.info("listing groups failed: %s", exc)
            stored, error = [], ErrorCode.UNKNOWN_SERVER_ERROR
        listed = {s.group: (CONSUMER_PROTOCOL_TYPE, s.state, CLASSIC_GROUP_TYPE) for s in stored}
        for group in self.registry.groups.values():
            listed[group.group_id] = (
                group.protocol_type or CONSUMER_PROTOCOL_TYPE,
                group.state,
                CLASSIC_GROUP_TYPE,
            )
        for cgroup in self.registry.consumer_groups.values():
            listed[cgroup.group_id] = (CONSUMER_PROTOCOL_TYPE, cgroup.state, CONSUMER_GROUP_TYPE)
        body = req.body
        states = {s.lower() for s in body.states_filter or ()} if req.version >= 4 else set()
        types = {t.lower() for t in body.types_filter or ()} if req.version >= 5 else set()
        return ListGroupsResponse(
            version=req.version,
            throttle_time_ms=0,
            error_code=error,
            groups=[
                ListGroupsResponse.ListedGroup(
                    group_id=g, protocol_type=t, group_state=state, group_type=group_type
                )
                for g, (t, state, group_type) in sorted(listed.items())
                if (not states or state.lower() in states) and (not types or group_type in types)
            ],
        )

    # -- DeleteGroups ---------------------------------------------------------------------

    async def delete_groups(self, conn: ConnectionStats, req: Request):
        results = []
        for group_id in req.body.groups_names:
            group = self.registry.groups.get(group_id)
            cgroup = self.registry.consumer_groups.get(group_id)
            if (group is not None and (group.members or group.pending)) or (
                cgroup is not None and cgroup.members
            ):
                error = ErrorCode.NON_EMPTY_GROUP
            else:
                # Publish the group's final (empty) state first, so that the store does not
                # see the members of an older snapshot, and a later publication does not
                # bring the deleted group back.
                snapshot = None
                if group is not None:
                    snapshot = self.publisher.snapshot(group)
                    del self.registry.groups[group_id]
                self.registry.consumer_groups.pop(group_id, None)
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


def _failed_group(group_id: str, error: int, message: str):
    """DescribeGroups' answer for a group it cannot describe."""
    return DescribeGroupsResponse.DescribedGroup(
        error_code=error,
        error_message=message,
        group_id=group_id,
        group_state="",
        protocol_type="",
        protocol_data="",
        members=[],
        authorized_operations=None,
    )
