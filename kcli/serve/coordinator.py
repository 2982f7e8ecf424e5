"""The group coordinator: Kafka's classic and consumer (KIP-848) group protocols, for clients
on the wire.

Membership lives in this process's memory, as in a Kafka broker.  A snapshot of every group
(state, generation, members, their subscriptions and assignments decoded from the consumer
protocol) is published through ``GroupStore`` so that ``kcli group list/describe`` show wire
groups next to groups of kcli processes; committed offsets go to the same ``GroupStore`` that
kcli's own consumers use.

``GroupCoordinator`` assembles parts with one job each, sharing one ``GroupRegistry``:

- ``GroupMembership`` (``group_membership``): JoinGroup, SyncGroup, Heartbeat, LeaveGroup;
- ``ConsumerGroupMembership`` (``consumer_group_heartbeat``): ConsumerGroupHeartbeat, the
  consumer protocol of KIP-848;
- ``GroupOffsets`` (``group_offsets``): OffsetCommit, OffsetFetch, OffsetDelete;
- ``GroupAdmin`` (``group_admin``): DescribeGroups, ConsumerGroupDescribe, ListGroups,
  DeleteGroups;
- ``GroupTimers`` and ``GroupPublisher`` (``group_timers``): session and rebalance expiry,
  and publication of snapshots.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from kcli.serve.config import BrokerConfig
from kcli.serve.consumer_group_heartbeat import ConsumerGroupMembership
from kcli.serve.group_admin import GroupAdmin
from kcli.serve.group_membership import GroupMembership
from kcli.serve.group_offsets import GroupOffsets
from kcli.serve.group_registry import GroupRegistry
from kcli.serve.group_timers import GroupPublisher, GroupTimers
from kcli.serve.replication import Replication
from kcli.serve.topic_catalog import TopicCatalog
from storage import Store


class GroupCoordinator:
    """The group APIs' handlers, and the background tasks that time and publish groups."""

    def __init__(
        self,
        store: Store,
        config: BrokerConfig,
        *,
        run: Callable,
        replication: Replication | None = None,
    ):
        catalog = TopicCatalog(store, run=run, replication=replication)
        self.registry = GroupRegistry(store, run=run, catalog=catalog)
        self.publisher = GroupPublisher(self.registry)
        self.membership = GroupMembership(self.registry, config, self.publisher)
        self.consumer_membership = ConsumerGroupMembership(self.registry, config)
        self.offsets = GroupOffsets(self.registry, config)
        self.admin = GroupAdmin(self.registry, self.publisher)
        self.timers = GroupTimers(self.registry, self.membership, self.consumer_membership)
        self._tasks: list[asyncio.Task] = []
        # The handlers, by API.
        self.join_group = self.membership.join_group
        self.sync_group = self.membership.sync_group
        self.heartbeat = self.membership.heartbeat
        self.leave_group = self.membership.leave_group
        self.offset_commit = self.offsets.offset_commit
        self.offset_fetch = self.offsets.offset_fetch
        self.offset_delete = self.offsets.offset_delete
        self.describe_groups = self.admin.describe_groups
        self.consumer_group_heartbeat = self.consumer_membership.consumer_group_heartbeat
        self.consumer_group_describe = self.admin.consumer_group_describe
        self.list_groups = self.admin.list_groups
        self.delete_groups = self.admin.delete_groups

    @property
    def groups(self):
        """The live groups by id (the live view shows them)."""
        return self.registry.groups

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self.timers.tick_loop(), name="group-timers"),
            loop.create_task(self.publisher.publish_loop(), name="group-publisher"),
        ]

    async def stop(self) -> None:
        """Answer every waiting request, publish every group as Empty, stop the timers."""
        self.registry.stopping = True
        self.membership.cancel_waiting()
        for group in self.registry.consumer_groups.values():
            if group.members:
                group.members.clear()
                self.registry.dirty.add(group.group_id)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        await self.publisher.publish_dirty()
