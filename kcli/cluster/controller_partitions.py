"""The controller's partition decisions: ISR changes from leaders (Kafka's AlterPartition) and
leader elections, each written as a ``PartitionChangeRecord``.

A leader is elected from the live in-sync replicas with a bumped leader epoch (the metadata
image bumps it when a record changes the leader); out of the ISR only with
``unclean.leader.election.enable`` or ``kcli cluster elect-leaders --unclean``, and the records
the new leader lacks are then lost.  A partition with no live in-sync replica goes offline
(leader -1) rather than lose acknowledged records.
"""

from __future__ import annotations

import logging

from kcli.cluster.metadata import NO_LEADER, PartitionState
from kcli.cluster.rpc import error_answer
from kcli.serve.protocol import ErrorCode

log = logging.getLogger("kcli.cluster.controller")

ELECTION_PREFERRED = "preferred"
ELECTION_UNCLEAN = "unclean"


class PartitionLeadership:
    """ISR changes and leader elections, on the controller's image and metadata log."""

    def __init__(self, controller):
        self.controller = controller  # image, live(), commit()

    @property
    def image(self):
        return self.controller.image

    @property
    def unclean(self) -> bool:
        return self.controller.config.unclean_leader_election_enable

    async def alter_partition(self, req: dict) -> dict:
        """A leader's ISR change (Kafka's AlterPartition), checked against the current state."""
        broker_id = req["brokerId"]
        broker = self.image.brokers.get(broker_id)
        if broker is None or broker.epoch != req["brokerEpoch"]:
            return error_answer(ErrorCode.STALE_BROKER_EPOCH)
        state = self.image.partition(req["topic"], req["partition"])
        if state is None:
            return error_answer(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
        if state.leader != broker_id:
            return error_answer(
                ErrorCode.NOT_LEADER_OR_FOLLOWER, f"broker {broker_id} is not the leader"
            )
        if req["leaderEpoch"] != state.leader_epoch:
            return error_answer(
                ErrorCode.FENCED_LEADER_EPOCH, f"the leader epoch is {state.leader_epoch}"
            )
        if req["partitionEpoch"] != state.partition_epoch:
            return error_answer(
                ErrorCode.INVALID_UPDATE_VERSION, f"the partition epoch is {state.partition_epoch}"
            )
        new_isr = [r for r in state.replicas if r in set(req["newIsr"])]
        live = set(self.controller.live())
        added = [r for r in new_isr if r not in state.isr]
        if broker_id not in new_isr or any(r not in live for r in added):
            return error_answer(
                ErrorCode.INELIGIBLE_REPLICA,
                f"ISR {new_isr}: the leader must be in it and added replicas must be live",
            )
        if new_isr != state.isr:
            await self.controller.commit([self.change(state, isr=new_isr)])
            log.info(
                "%s-%d ISR %s (AlterPartition from broker %d)",
                state.topic,
                state.partition,
                new_isr,
                broker_id,
            )
        return {"error_code": 0, **state.to_json()}

    def change(self, state: PartitionState, **fields) -> dict:
        record = {
            "type": "PartitionChangeRecord",
            "partitionId": state.partition,
            "topicId": self.image.topics[state.topic].topic_id,
        }
        record.update(fields)
        return record

    def elect(self, state: PartitionState, excluded: int | None, *, unclean: bool) -> dict | None:
        """The change that gives ``state`` a leader from its live ISR (else, with ``unclean``,
        any live replica), without broker ``excluded``; None when nothing changes."""
        live = set(self.controller.live()) - {excluded}
        isr = [r for r in state.isr if r != excluded] or list(state.isr)
        candidates = [r for r in state.replicas if r in isr and r in live]
        if candidates:
            leader = state.leader if state.leader in candidates else candidates[0]
            fields = {}
            if leader != state.leader:
                fields["leader"] = leader
            if isr != state.isr:
                fields["isr"] = isr
            return self.change(state, **fields) if fields else None
        if unclean:
            outside = [r for r in state.replicas if r in live]
            if outside:
                log.warning(
                    "%s-%d: no in-sync replica is alive; unclean election of broker %d "
                    "(records it lacks are lost)",
                    state.topic,
                    state.partition,
                    outside[0],
                )
                return self.change(state, leader=outside[0], isr=[outside[0]])
        fields = {}
        if state.leader != NO_LEADER:
            fields["leader"] = NO_LEADER
            log.warning(
                "%s-%d is offline: no in-sync replica is alive (ISR %s)",
                state.topic,
                state.partition,
                isr,
            )
        if isr != state.isr:
            fields["isr"] = isr
        return self.change(state, **fields) if fields else None

    async def elect_leaders(self, req: dict) -> dict:
        """Preferred (the first replica, when in the ISR and alive) or unclean elections."""
        kind = req.get("electionType", ELECTION_PREFERRED)
        topic = req.get("topic")
        if topic is not None and topic not in self.image.topics:
            return error_answer(
                ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"topic '{topic}' does not exist"
            )
        live = set(self.controller.live())
        changes, results = [], []
        for state in list(self.image.partitions()):
            if topic is not None and state.topic != topic:
                continue
            if kind == ELECTION_PREFERRED:
                preferred = state.replicas[0]
                if state.leader == preferred:
                    code = ErrorCode.ELECTION_NOT_NEEDED
                elif preferred in state.isr and preferred in live:
                    changes.append(self.change(state, leader=preferred))
                    code = ErrorCode.NONE
                else:
                    code = ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE
            else:
                if state.leader != NO_LEADER:
                    code = ErrorCode.ELECTION_NOT_NEEDED
                else:
                    change = self.elect(state, None, unclean=True)
                    if change is not None and change.get("leader", NO_LEADER) != NO_LEADER:
                        changes.append(change)
                        code = ErrorCode.NONE
                    else:
                        code = ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE
            results.append(
                {"topic": state.topic, "partition": state.partition, "error_code": int(code)}
            )
        await self.controller.commit(changes)
        for r in results:
            state = self.image.partition(r["topic"], r["partition"])
            r["leader"] = state.leader
        return {"error_code": 0, "results": results}
