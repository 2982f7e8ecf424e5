"""The group coordinator's two background tasks: its timers and its publisher.

The timers expire pending member ids, sessions without heartbeats and rebalances that waited
long enough; the publisher writes a snapshot of every changed group (and, every
``REPUBLISH_S``, of every group with members) through ``GroupStore``, so that ``kcli group
list/describe`` show wire groups and can tell a live coordinator from one that has gone.

``GroupTimers`` is a mixin of ``GroupCoordinator``: it works on the coordinator's ``groups``,
``_dirty`` set, ``_wake`` event, ``run`` and ``group_store``.
"""

from __future__ import annotations

import asyncio
import logging
import time

from kcli.serve.consumer_protocol import (
    CONSUMER_PROTOCOL_TYPE,
    decode_assignment,
    decode_subscription,
)
from kcli.serve.group_state import EMPTY, Group
from storage import StorageError

log = logging.getLogger("kcli.serve")

TICK_S = 0.1
# Published snapshots are refreshed this often while a group has members, so that readers can
# tell a live coordinator from one that has gone.
REPUBLISH_S = 2.0


class GroupTimers:
    """Session and rebalance timers, and publication of group snapshots to the store."""

    async def _tick_loop(self) -> None:
        while True:
            if not any(g.members or g.pending for g in self.groups.values()):
                self._wake.clear()
                await self._wake.wait()
            await asyncio.sleep(TICK_S)
            try:
                self._tick()
            except Exception:  # never let one bad group stop every group's timers
                log.exception("group timers failed")

    def _tick(self) -> None:
        now = self._loop_time()
        for group in list(self.groups.values()):
            for member_id, expires in list(group.pending.items()):
                if now > expires:
                    del group.pending[member_id]
            for member in list(group.members.values()):
                waiting = member.join_future is not None or member.sync_future is not None
                if not waiting and now - member.last_heartbeat > member.session_timeout_ms / 1000:
                    self._remove_member(
                        group,
                        member,
                        f"no heartbeat within session.timeout.ms={member.session_timeout_ms}",
                    )
            self._maybe_complete_join(group)
            if (
                group.state == EMPTY
                and not group.members
                and not group.pending
                and group.group_id not in self._dirty
            ):
                # Its published state says all there is to say; forget it here.
                del self.groups[group.group_id]

    async def _publish_loop(self) -> None:
        last_full = 0.0
        while True:
            await asyncio.sleep(TICK_S * 2)
            now = self._loop_time()
            if now - last_full >= REPUBLISH_S:
                last_full = now
                self._dirty.update(g.group_id for g in self.groups.values() if g.members)
            await self._publish_dirty()

    async def _publish_dirty(self) -> None:
        if not self._dirty:
            return
        snapshots = [
            self._snapshot(self.groups[g]) for g in sorted(self._dirty) if g in self.groups
        ]
        self._dirty.clear()
        try:
            await self.run(self._publish, snapshots)
        except Exception as exc:  # publishing is for display; the protocol goes on without it
            log.warning("could not publish group state: %s", exc)

    def _snapshot(self, group: Group) -> dict:
        from storage.groups import MemberDescription

        now = self._loop_time()
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

    def _publish(self, snapshots: list[dict]) -> None:
        for snapshot in snapshots:
            group = snapshot.pop("group")
            try:
                self.group_store.publish_external(group, **snapshot)
            except StorageError as exc:
                log.warning("could not publish the state of group '%s': %s", group, exc)
