"""The controller's view of broker liveness, as KRaft's: registrations, heartbeats, fencing.

A broker registers (``BrokerRegistration``) and starts fenced; it is unfenced once its
heartbeats (``BrokerHeartbeat``) show it has caught up with the metadata log.  A broker that
sends no heartbeat for ``broker.session.timeout.ms`` is fenced: out of every ISR, its
leaderships elected away.  A controlled shutdown (a heartbeat with ``wantShutDown``) moves its
leaderships first and lets it stop once it has seen that.
"""

from __future__ import annotations

import asyncio
import logging
import time

from kcli.cluster.metadata import NO_LEADER
from kcli.cluster.rpc import error_answer
from kcli.serve.protocol import ErrorCode

log = logging.getLogger("kcli.cluster.controller")


class BrokerLiveness:
    """Broker sessions and the fencing they decide."""

    def __init__(self, controller, partitions):
        self.controller = controller  # image, config, commit(), lock
        self.partitions = partitions  # a PartitionLeadership
        self.config = controller.config
        now = time.monotonic()
        # Broker id -> when its session expires.  After a restart every registered broker gets
        # a fresh session: one that does not heartbeat within it is fenced.
        self.sessions: dict[int, float] = {
            b: now + self.session_s for b, reg in controller.image.brokers.items() if not reg.fenced
        }
        self.last_heartbeat: dict[int, float] = {}
        self._shutdown_offset = 0

    @property
    def image(self):
        return self.controller.image

    @property
    def session_s(self) -> float:
        return self.config.broker_session_timeout_ms / 1000

    async def check_sessions(self) -> None:
        interval = min(self.config.broker_heartbeat_interval_ms / 1000, self.session_s / 4)
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            for broker_id, deadline in list(self.sessions.items()):
                if now >= deadline:
                    async with self.controller.lock:
                        if self.sessions.get(broker_id, now + 1) <= now:
                            log.warning(
                                "broker %d missed its heartbeats for broker.session.timeout.ms="
                                "%d: fencing it",
                                broker_id,
                                self.config.broker_session_timeout_ms,
                            )
                            del self.sessions[broker_id]
                            await self.fence(broker_id)

    async def broker_registration(self, req: dict) -> dict:
        broker_id = req["brokerId"]
        if broker_id in self.sessions and time.monotonic() < self.sessions[broker_id]:
            existing = self.image.brokers.get(broker_id)
            if existing is not None and req.get("incarnationId") == existing.incarnation_id:
                return {"error_code": 0, "brokerEpoch": existing.epoch}
            return error_answer(
                ErrorCode.DUPLICATE_BROKER_REGISTRATION,
                f"broker {broker_id} is still registered with a live session; retry after "
                f"broker.session.timeout.ms={self.config.broker_session_timeout_ms}",
            )
        # A new registration replaces the old one, fenced until the broker catches up.
        if broker_id in self.image.brokers and not self.image.brokers[broker_id].fenced:
            await self.fence(broker_id)
        await self.controller.commit(
            [
                {
                    "type": "RegisterBrokerRecord",
                    "brokerId": broker_id,
                    "host": req["host"],
                    "port": req["port"],
                    "incarnationId": req.get("incarnationId"),
                    "fenced": True,
                }
            ]
        )
        registration = self.image.brokers[broker_id]
        self.sessions[broker_id] = time.monotonic() + self.session_s
        log.info("broker %d registered with epoch %d", broker_id, registration.epoch)
        return {"error_code": 0, "brokerEpoch": registration.epoch}

    async def broker_heartbeat(self, req: dict) -> dict:
        broker_id = req["brokerId"]
        broker = self.image.brokers.get(broker_id)
        if broker is None or broker.epoch != req["brokerEpoch"]:
            return error_answer(
                ErrorCode.STALE_BROKER_EPOCH,
                f"broker {broker_id} epoch {req['brokerEpoch']} is not the registered one",
            )
        now = time.monotonic()
        if broker_id not in self.sessions and broker.fenced and not req.get("wantShutDown"):
            # Fenced for missing heartbeats but alive after all (it was paused): its session
            # starts again; it is unfenced below once caught up, as after a registration.
            log.info("broker %d is heartbeating again", broker_id)
        self.sessions[broker_id] = now + self.session_s
        self.last_heartbeat[broker_id] = now
        caught_up = req.get("currentMetadataOffset", -1) >= broker.epoch
        should_shut_down = False
        if req.get("wantShutDown"):
            should_shut_down = await self.controlled_shutdown(broker_id, req)
        elif broker.fenced and caught_up:
            await self.unfence(broker_id)
        broker = self.image.brokers[broker_id]
        return {
            "error_code": 0,
            "isFenced": broker.fenced,
            "inControlledShutdown": broker.in_controlled_shutdown,
            "shouldShutDown": should_shut_down,
        }

    async def fence(self, broker_id: int) -> None:
        """Fence a broker: out of every ISR, and its leaderships elected away."""
        records = [
            {
                "type": "FenceBrokerRecord",
                "id": broker_id,
                "epoch": self.image.brokers[broker_id].epoch,
            }
        ]
        await self.controller.commit(records)
        changes = []
        for state in self.image.partitions():
            if broker_id in state.isr or state.leader == broker_id:
                change = self.partitions.elect(state, broker_id, unclean=self.partitions.unclean)
                if change is not None:
                    changes.append(change)
        await self.controller.commit(changes)

    async def unfence(self, broker_id: int) -> None:
        await self.controller.commit(
            [
                {
                    "type": "UnfenceBrokerRecord",
                    "id": broker_id,
                    "epoch": self.image.brokers[broker_id].epoch,
                }
            ]
        )
        log.info("broker %d is caught up with the metadata: unfenced", broker_id)
        changes = []
        for state in self.image.partitions():
            if state.leader == NO_LEADER and broker_id in state.replicas:
                change = self.partitions.elect(state, None, unclean=self.partitions.unclean)
                if change is not None:
                    changes.append(change)
        await self.controller.commit(changes)

    async def controlled_shutdown(self, broker_id: int, req: dict) -> bool:
        """Move leaderships away and leave the ISRs; True once the broker may stop."""
        broker = self.image.brokers[broker_id]
        if broker.fenced:
            return True
        if not broker.in_controlled_shutdown:
            log.info("broker %d asked for a controlled shutdown", broker_id)
            await self.controller.commit(
                [
                    {
                        "type": "BrokerRegistrationChangeRecord",
                        "brokerId": broker_id,
                        "brokerEpoch": broker.epoch,
                        "inControlledShutdown": True,
                    }
                ]
            )
            changes = []
            for state in self.image.partitions():
                if state.leader == broker_id or broker_id in state.isr:
                    if state.leader == broker_id:
                        change = self.partitions.elect(state, broker_id, unclean=False)
                    elif len(state.isr) > 1:
                        change = self.partitions.change(
                            state, isr=[r for r in state.isr if r != broker_id]
                        )
                    else:
                        change = None
                    if change is not None and change.get("leader") != NO_LEADER:
                        changes.append(change)
            await self.controller.commit(changes)
            self._shutdown_offset = self.image.offset
        # The broker may stop once it has seen the records that moved its leaderships.
        if req.get("currentMetadataOffset", -1) >= self._shutdown_offset:
            self.sessions.pop(broker_id, None)
            await self.fence(broker_id)
            return True
        return False
