"""The group coordinator's two background tasks: its timers and its publisher.

The timers expire pending member ids, sessions without heartbeats and rebalances that waited
long enough; the publisher writes a snapshot of every changed group (and, every
``REPUBLISH_S``, of every group with members) through ``GroupStore``, so that ``kcli group
list/describe`` show wire groups and can tell a live coordinator from one that has gone.

Both work on the coordinator's ``GroupRegistry``; the timers remove expired members through
``GroupMembership``.
"""

from __future__ import annotations

import asyncio
import logging
import time

from kcli.serve.consumer_group_state import (
    CONSUMER_GROUP_TYPE,
    ConsumerGroup,
    subscribed_topics,
)
from kcli.serve.consumer_protocol import (
    CONSUMER_PROTOCOL_TYPE,
    decode_assignment,
    decode_subscription,
)
from kcli.serve.group_registry import GroupRegistry
from kcli.serve.group_state import EMPTY, Group
from storage import StorageError

log = logging.getLogger("kcli.serve")

TICK_S = 0.1
# Published snapshots are refreshed this often while a group has members, so that readers can
# tell a live coordinator from one that has gone.
REPUBLISH_S = 2.0


class GroupTimers:
    """Session and rebalance timers."""

    def __init__(self, registry: GroupRegistry, membership, consumer_membership):
        self.registry = registry
        self.membership = membership  # a GroupMembership: removes members, completes joins
        # a ConsumerGroupMembership: expires consumer-protocol members
        self.consumer_membership = consumer_membership

    async def tick_loop(self) -> None:
        while True:
            if not any(g.members or g.pending for g in self.registry.groups.values()) and not any(
                g.members for g in self.registry.consumer_groups.values()
            ):
                self.registry.wake.clear()
                await self.registry.wake.wait()
            await asyncio.sleep(TICK_S)
            try:
                self._tick()
            except Exception:  # never let one bad group stop every group's timers
                log.exception("group timers failed")

    def _tick(self) -> None:
        self.consumer_membership.expire()
        now = self.registry.loop_time()
        for group in list(self.registry.groups.values()):
            for member_id, expires in list(group.pending.items()):
                if now > expires:
                    del group.pending[member_id]
            for member in list(group.members.values()):
                waiting = member.join_future is not None or member.sync_future is not None
                if not waiting and now - member.last_heartbeat > member.session_timeout_ms / 1000:
                    self.membership.remove_member(
                        group,
                        member,
                        f"no heartbeat within session.timeout.ms={member.session_timeout_ms}",
                    )
            self.membership.maybe_complete_join(group)
            if (
                group.state == EMPTY
                and not group.members
                and not group.pending
                and group.group_id not in self.registry.dirty
            ):
                # Its published state says all there is to say; forget it here.
                del self.registry.groups[group.group_id]


class GroupPublisher:
    """Publication of group snapshots to the store, for ``kcli group list/describe``."""

    def __init__(self, registry: GroupRegistry):
        self.registry = registry

    async def publish_loop(self) -> None:
        last_full = 0.0
        while True:
            await asyncio.sleep(TICK_S * 2)
            now = self.registry.loop_time()
            if now - last_full >= REPUBLISH_S:
                last_full = now
                self.registry.dirty.update(
                    g.group_id for g in self.registry.groups.values() if g.members
                )
                self.registry.dirty.update(
                    g.group_id for g in self.registry.consumer_groups.values() if g.members
                )
            await self.publish_dirty()

    async def publish_dirty(self) -> None:
        if not self.registry.dirty:
            return
        snapshots = [
            self.snapshot(self.registry.groups[g])
            if g in self.registry.groups
            else consumer_group_snapshot(self.registry.consumer_groups[g], self._wall_ms)
            for g in sorted(self.registry.dirty)
            if g in self.registry.groups or g in self.registry.consumer_groups
        ]
        self.registry.dirty.clear()
        try:
            await self.registry.run(self.publish, snapshots)
        except Exception as exc:  # publishing is for display; the protocol goes on without it
            log.warning("could not publish group state: %s", exc)

    def snapshot(self, group: Group) -> dict:
        from storage.groups import MemberDescription

        now = self.registry.loop_time()
        wall_ms = int(time.time() * 1000)
        members = tuple(
            MemberDescription(
                member_id=m.member_id,
                client_id=m.client_id,
                host=m.client_host,
                pid=None,
                topics=decode_subscription(m.metadata(group.protocol) or m.protocols[0][1])
                if group.protocol_type == CONSUMER_PROTOCOL_TYPE
                else (),
                assignment=decode_assignment(m.assignment)
                if group.protocol_type == CONSUMER_PROTOCOL_TYPE
                else (),
                last_heartbeat_ms=wall_ms - int((now - m.last_heartbeat) * 1000),
            )
            for m in group.members.values()
        )
        return {
            "group": group.group_id,
            "state": group.state,
            "generation": group.generation,
            "protocol_type": group.protocol_type or CONSUMER_PROTOCOL_TYPE,
            "assignor": group.protocol,
            "members": members,
        }

    def _wall_ms(self, loop_time: float) -> int:
        """A loop time as wall-clock milliseconds."""
        return int(time.time() * 1000) - int((self.registry.loop_time() - loop_time) * 1000)

    def publish(self, snapshots: list[dict]) -> None:
        for snapshot in snapshots:
            group = snapshot.pop("group")
            try:
                self.registry.group_store.publish_external(group, **snapshot)
            except StorageError as exc:
                log.warning("could not publish the state of group '%s': %s", group, exc)


def consumer_group_snapshot(group: ConsumerGroup, wall_ms) -> dict:
    """A consumer-protocol group as ``GroupStore.publish_external`` records it: the group
    epoch as its generation, and each member's epoch and target beside its assignment."""
    from storage.groups import MemberDescription

    return {
        "group": group.group_id,
        "state": group.state,
        "generation": group.group_epoch,
        "protocol_type": CONSUMER_PROTOCOL_TYPE,
        "assignor": group.assignor if group.members else "",
        "group_type": CONSUMER_GROUP_TYPE,
        "assignment_epoch": group.assignment_epoch,
        "members": tuple(
            MemberDescription(
                member_id=m.member_id,
                client_id=m.client_id,
                host=m.client_host,
                pid=None,
                topics=tuple(sorted(subscribed_topics(group, m))),
                assignment=tuple(sorted(m.assigned)),
                last_heartbeat_ms=wall_ms(m.last_heartbeat),
                group_instance_id=m.instance_id,
                member_epoch=m.member_epoch,
                target_assignment=tuple(sorted(group.target.get(m.member_id, ()))),
            )
            for m in group.members.values()
        ),
    }
