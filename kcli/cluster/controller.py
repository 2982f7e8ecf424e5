"""The controller: the one process that decides, and writes every decision to the metadata log.

As a KRaft controller does, it registers brokers (``BrokerRegistration``), keeps each one's
session alive with its heartbeats (``BrokerHeartbeat``) and fences a broker that stays silent
for ``broker.session.timeout.ms``; creates and deletes topics and places their replicas; takes
ISR changes from partition leaders (``AlterPartition``); elects leaders from the ISR with a
bumped leader epoch when a leader is fenced or shuts down (out of the ISR only with
``unclean.leader.election.enable``); hands out blocks of producer ids; and serves the metadata
log to brokers (a long-polling fetch).  A decision counts once its records are fsynced.

One controller, not a quorum: Kafka runs 3 or 5 so that a majority survives the loss of one or
two, and elects a new active controller by Raft; kcli's one controller is a single point of
failure on purpose, to show what a cluster can and cannot do without one (docs/cluster.md).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import signal
import time
import uuid
from pathlib import Path

from kcli.cluster.config import ClusterConfig
from kcli.cluster.constants import HOST, OFFSETS_TOPIC
from kcli.cluster.metadata import NO_LEADER, MetadataImage, MetadataLog, PartitionState
from kcli.cluster.placement import assign_replicas
from kcli.cluster.rpc import serve_lines
from kcli.serve.protocol import ErrorCode

log = logging.getLogger("kcli.cluster.controller")

# Producer ids are handed to brokers in blocks, as Kafka's AllocateProducerIds does.
PRODUCER_ID_BLOCK = 1000
ELECTION_PREFERRED = "preferred"
ELECTION_UNCLEAN = "unclean"


def _error(code: ErrorCode, message: str | None = None) -> dict:
    return {"error_code": int(code), "error_message": message}


class Controller:
    """The cluster's controller (see the module docstring)."""

    def __init__(self, directory: Path, config: ClusterConfig, *, brokers: int):
        self.directory = directory
        self.config = config
        self.expected_brokers = brokers
        self.metadata_log = MetadataLog(directory / "metadata.log")
        self.image = MetadataImage()
        for offset, record in enumerate(self.metadata_log.records):
            self.image.apply(offset, record)
        now = time.monotonic()
        # Broker id -> when its session expires.  After a restart every registered broker gets
        # a fresh session: one that does not heartbeat within it is fenced.
        self.sessions: dict[int, float] = {
            b: now + self._session_s for b, reg in self.image.brokers.items() if not reg.fenced
        }
        self.last_heartbeat: dict[int, float] = {}
        self._appended = asyncio.Event()
        self._lock = asyncio.Lock()
        self._server = None
        self._stopping = asyncio.Event()

    @property
    def _session_s(self) -> float:
        return self.config.broker_session_timeout_ms / 1000

    async def _commit(self, records: list[dict]) -> None:
        """Write records durably, then apply them and wake the brokers' metadata fetches."""
        if not records:
            return
        first = await asyncio.get_running_loop().run_in_executor(
            None, self.metadata_log.append, records
        )
        for i, record in enumerate(records):
            self.image.apply(first + i, record)
            log.info("metadata %d: %s", first + i, json.dumps(record))
        self._appended.set()
        self._appended = asyncio.Event()

    # -- lifecycle ------------------------------------------------------------------------

    async def run(self, port: int, port_file: Path) -> None:
        self._server = await serve_lines(HOST, port, self.handle)
        actual = self._server.sockets[0].getsockname()[1]
        tmp = port_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"port": actual, "pid": os.getpid()}))
        os.replace(tmp, port_file)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stopping.set)
        log.info("controller listening on %s:%d", HOST, actual)
        checker = loop.create_task(self._check_sessions())
        await self._stopping.wait()
        checker.cancel()
        self._server.close()
        self.metadata_log.close()

    async def _check_sessions(self) -> None:
        interval = min(self.config.broker_heartbeat_interval_ms / 1000, self._session_s / 4)
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            for broker_id, deadline in list(self.sessions.items()):
                if now >= deadline:
                    async with self._lock:
                        if self.sessions.get(broker_id, now + 1) <= now:
                            log.warning(
                                "broker %d missed its heartbeats for broker.session.timeout.ms="
                                "%d: fencing it",
                                broker_id,
                                self.config.broker_session_timeout_ms,
                            )
                            del self.sessions[broker_id]
                            await self._fence(broker_id)

    # -- requests -------------------------------------------------------------------------

    async def handle(self, request: dict) -> dict:
        api = request.get("api")
        handler = {
            "BrokerRegistration": self.broker_registration,
            "BrokerHeartbeat": self.broker_heartbeat,
            "FetchMetadata": self.fetch_metadata,
            "CreateTopics": self.create_topics,
            "DeleteTopics": self.delete_topics,
            "CreatePartitions": self.create_partitions,
            "AlterConfigs": self.alter_configs,
            "AlterPartition": self.alter_partition,
            "ElectLeaders": self.elect_leaders,
            "AllocateProducerIds": self.allocate_producer_ids,
            "DescribeCluster": self.describe_cluster,
        }.get(api)
        if handler is None:
            return _error(ErrorCode.INVALID_REQUEST, f"unknown controller API {api!r}")
        if api == "FetchMetadata":
            return await handler(request)
        async with self._lock:
            return await handler(request)

    async def broker_registration(self, req: dict) -> dict:
        broker_id = req["brokerId"]
        if broker_id in self.sessions and time.monotonic() < self.sessions[broker_id]:
            existing = self.image.brokers.get(broker_id)
            if existing is not None and req.get("incarnationId") == existing.incarnation_id:
                return {"error_code": 0, "brokerEpoch": existing.epoch}
            return _error(
                ErrorCode.DUPLICATE_BROKER_REGISTRATION,
                f"broker {broker_id} is still registered with a live session; retry after "
                f"broker.session.timeout.ms={self.config.broker_session_timeout_ms}",
            )
        # A new registration replaces the old one, fenced until the broker catches up.
        if broker_id in self.image.brokers and not self.image.brokers[broker_id].fenced:
            await self._fence(broker_id)
        await self._commit(
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
        self.sessions[broker_id] = time.monotonic() + self._session_s
        log.info("broker %d registered with epoch %d", broker_id, registration.epoch)
        return {"error_code": 0, "brokerEpoch": registration.epoch}

    async def broker_heartbeat(self, req: dict) -> dict:
        broker_id = req["brokerId"]
        broker = self.image.brokers.get(broker_id)
        if broker is None or broker.epoch != req["brokerEpoch"]:
            return _error(
                ErrorCode.STALE_BROKER_EPOCH,
                f"broker {broker_id} epoch {req['brokerEpoch']} is not the registered one",
            )
        now = time.monotonic()
        if broker_id not in self.sessions and broker.fenced and not req.get("wantShutDown"):
            # Fenced for missing heartbeats but alive after all (it was paused): its session
            # starts again; it is unfenced below once caught up, as after a registration.
            log.info("broker %d is heartbeating again", broker_id)
        self.sessions[broker_id] = now + self._session_s
        self.last_heartbeat[broker_id] = now
        caught_up = req.get("currentMetadataOffset", -1) >= broker.epoch
        should_shut_down = False
        if req.get("wantShutDown"):
            should_shut_down = await self._controlled_shutdown(broker_id, req)
        elif broker.fenced and caught_up:
            await self._unfence(broker_id)
        broker = self.image.brokers[broker_id]
        return {
            "error_code": 0,
            "isFenced": broker.fenced,
            "inControlledShutdown": broker.in_controlled_shutdown,
            "shouldShutDown": should_shut_down,
        }

    async def fetch_metadata(self, req: dict) -> dict:
        offset = max(0, int(req.get("offset", 0)))
        wait_s = max(0, int(req.get("maxWaitMs", 0))) / 1000
        if offset >= self.metadata_log.end_offset and wait_s > 0:
            event = self._appended
            try:
                await asyncio.wait_for(event.wait(), wait_s)
            except TimeoutError:
                pass
        return {
            "error_code": 0,
            "records": self.metadata_log.read(offset)[:10_000],
            "endOffset": self.metadata_log.end_offset,
        }

    async def allocate_producer_ids(self, req: dict) -> dict:
        start = self.image.next_producer_id
        await self._commit(
            [
                {
                    "type": "ProducerIdsRecord",
                    "brokerId": req.get("brokerId", -1),
                    "nextProducerId": start + PRODUCER_ID_BLOCK,
                }
            ]
        )
        return {"error_code": 0, "producerIdStart": start, "producerIdLen": PRODUCER_ID_BLOCK}

    async def describe_cluster(self, req: dict) -> dict:
        out = self.image.to_json()
        out["error_code"] = 0
        out["topic_configs"] = {n: dict(t.configs) for n, t in self.image.topics.items()}
        now = time.monotonic()
        out["sessions"] = {str(b): round(d - now, 3) for b, d in self.sessions.items()}
        return out

    # -- topics -------------------------------------------------------------------------

    def _live(self) -> list[int]:
        return [b.broker_id for b in self.image.live_brokers() if not b.in_controlled_shutdown]

    async def create_topics(self, req: dict) -> dict:
        from storage import StorageError, validate_topic_name
        from storage.topic_config import config_from_user

        results = []
        for topic in req["topics"]:
            name = topic["name"]
            try:
                validate_topic_name(name)
                config_from_user(topic.get("configs") or {})
            except StorageError as exc:
                from kcli.serve.errors import error_code

                results.append({"name": name, **_error(error_code(exc), str(exc))})
                continue
            if name in self.image.topics:
                results.append(
                    {
                        "name": name,
                        **_error(ErrorCode.TOPIC_ALREADY_EXISTS, f"Topic '{name}' already exists."),
                    }
                )
                continue
            live = self._live()
            partitions = topic.get("numPartitions", -1)
            if partitions == -1:
                partitions = self.config.num_partitions
            factor = topic.get("replicationFactor", -1)
            if factor == -1:
                factor = self.config.replication_factor(self.expected_brokers)
            if partitions < 1:
                results.append(
                    {
                        "name": name,
                        **_error(
                            ErrorCode.INVALID_PARTITIONS, "Number of partitions must be at least 1."
                        ),
                    }
                )
                continue
            if not 1 <= factor <= len(live):
                results.append(
                    {
                        "name": name,
                        **_error(
                            ErrorCode.INVALID_REPLICATION_FACTOR,
                            f"Replication factor: {factor} larger than available brokers: "
                            f"{len(live)}.",
                        ),
                    }
                )
                continue
            if req.get("validateOnly"):
                results.append({"name": name, "error_code": 0, "error_message": None})
                continue
            topic_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            records = [{"type": "TopicRecord", "name": name, "topicId": topic_id}]
            for key, value in (topic.get("configs") or {}).items():
                records.append(
                    {
                        "type": "ConfigRecord",
                        "resourceType": 2,
                        "resourceName": name,
                        "name": key,
                        "value": str(value),
                    }
                )
            for p, replicas in enumerate(assign_replicas(partitions, sorted(live), factor)):
                records.append(
                    {
                        "type": "PartitionRecord",
                        "partitionId": p,
                        "topicId": topic_id,
                        "replicas": replicas,
                        "isr": replicas,
                        "leader": replicas[0],
                        "leaderEpoch": 0,
                        "partitionEpoch": 0,
                    }
                )
            await self._commit(records)
            log.info(
                "created topic %s: %d partitions, replication factor %d", name, partitions, factor
            )
            results.append({"name": name, "error_code": 0, "error_message": None})
        return {"error_code": 0, "topics": results}

    async def create_partitions(self, req: dict) -> dict:
        results = []
        for topic in req["topics"]:
            name, count = topic["name"], topic["count"]
            t = self.image.topics.get(name)
            if t is None:
                results.append(
                    {
                        "name": name,
                        **_error(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"no topic '{name}'"),
                    }
                )
                continue
            current = len(t.partitions)
            if count <= current:
                results.append(
                    {
                        "name": name,
                        **_error(
                            ErrorCode.INVALID_PARTITIONS,
                            f"Topic currently has {current} partitions, which is higher than or "
                            f"equal to the requested {count}.",
                        ),
                    }
                )
                continue
            factor = len(t.partitions[0].replicas)
            live = self._live()
            if factor > len(live):
                results.append(
                    {
                        "name": name,
                        **_error(
                            ErrorCode.INVALID_REPLICATION_FACTOR,
                            f"Replication factor: {factor} larger than available brokers: "
                            f"{len(live)}.",
                        ),
                    }
                )
                continue
            if not req.get("validateOnly"):
                placed = assign_replicas(
                    count - current, sorted(live), factor, first_partition=current
                )
                await self._commit(
                    [
                        {
                            "type": "PartitionRecord",
                            "partitionId": current + i,
                            "topicId": t.topic_id,
                            "replicas": replicas,
                            "isr": replicas,
                            "leader": replicas[0],
                            "leaderEpoch": 0,
                            "partitionEpoch": 0,
                        }
                        for i, replicas in enumerate(placed)
                    ]
                )
            results.append({"name": name, "error_code": 0, "error_message": None})
        return {"error_code": 0, "topics": results}

    async def alter_configs(self, req: dict) -> dict:
        """Topic config changes (checked by the broker that took the request), as
        ConfigRecords every broker applies to its copy of the topic."""
        name = req["name"]
        if name not in self.image.topics:
            return _error(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"topic '{name}' does not exist")
        await self._commit(
            [
                {
                    "type": "ConfigRecord",
                    "resourceType": 2,
                    "resourceName": name,
                    "name": key,
                    "value": str(value),
                }
                for key, value in req["configs"].items()
            ]
        )
        return {"error_code": 0}

    async def delete_topics(self, req: dict) -> dict:
        results = []
        for name in req["names"]:
            t = self.image.topics.get(name)
            if t is None:
                results.append(
                    {
                        "name": name,
                        **_error(
                            ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                            f"This server does not host this topic-partition: {name}",
                        ),
                    }
                )
                continue
            await self._commit([{"type": "RemoveTopicRecord", "topicId": t.topic_id}])
            results.append({"name": name, "error_code": 0, "error_message": None})
        return {"error_code": 0, "topics": results}

    # -- partitions: ISR changes and elections ----------------------------------------------

    async def alter_partition(self, req: dict) -> dict:
        """A leader's ISR change (Kafka's AlterPartition), checked against the current state."""
        broker_id = req["brokerId"]
        broker = self.image.brokers.get(broker_id)
        if broker is None or broker.epoch != req["brokerEpoch"]:
            return _error(ErrorCode.STALE_BROKER_EPOCH)
        state = self.image.partition(req["topic"], req["partition"])
        if state is None:
            return _error(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
        if state.leader != broker_id:
            return _error(ErrorCode.NOT_LEADER_OR_FOLLOWER, f"broker {broker_id} is not the leader")
        if req["leaderEpoch"] != state.leader_epoch:
            return _error(
                ErrorCode.FENCED_LEADER_EPOCH, f"the leader epoch is {state.leader_epoch}"
            )
        if req["partitionEpoch"] != state.partition_epoch:
            return _error(
                ErrorCode.INVALID_UPDATE_VERSION, f"the partition epoch is {state.partition_epoch}"
            )
        new_isr = [r for r in state.replicas if r in set(req["newIsr"])]
        live = set(self._live())
        added = [r for r in new_isr if r not in state.isr]
        if broker_id not in new_isr or any(r not in live for r in added):
            return _error(
                ErrorCode.INELIGIBLE_REPLICA,
                f"ISR {new_isr}: the leader must be in it and added replicas must be live",
            )
        if new_isr != state.isr:
            await self._commit([self._change(state, isr=new_isr)])
            log.info(
                "%s-%d ISR %s (AlterPartition from broker %d)",
                state.topic,
                state.partition,
                new_isr,
                broker_id,
            )
        return {"error_code": 0, **state.to_json()}

    def _change(self, state: PartitionState, **fields) -> dict:
        record = {
            "type": "PartitionChangeRecord",
            "partitionId": state.partition,
            "topicId": self.image.topics[state.topic].topic_id,
        }
        record.update(fields)
        return record

    def _elect(self, state: PartitionState, excluded: int | None, *, unclean: bool) -> dict | None:
        """The change that gives ``state`` a leader from its live ISR (else, with ``unclean``,
        any live replica), without broker ``excluded``; None when nothing changes."""
        live = set(self._live()) - {excluded}
        isr = [r for r in state.isr if r != excluded] or list(state.isr)
        candidates = [r for r in state.replicas if r in isr and r in live]
        if candidates:
            leader = state.leader if state.leader in candidates else candidates[0]
            fields = {}
            if leader != state.leader:
                fields["leader"] = leader
            if isr != state.isr:
                fields["isr"] = isr
            return self._change(state, **fields) if fields else None
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
                return self._change(state, leader=outside[0], isr=[outside[0]])
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
        return self._change(state, **fields) if fields else None

    @property
    def _unclean(self) -> bool:
        return self.config.unclean_leader_election_enable

    async def _fence(self, broker_id: int) -> None:
        """Fence a broker: out of every ISR, and its leaderships elected away."""
        records = [
            {
                "type": "FenceBrokerRecord",
                "id": broker_id,
                "epoch": self.image.brokers[broker_id].epoch,
            }
        ]
        await self._commit(records)
        changes = []
        for state in self.image.partitions():
            if broker_id in state.isr or state.leader == broker_id:
                change = self._elect(state, broker_id, unclean=self._unclean)
                if change is not None:
                    changes.append(change)
        await self._commit(changes)

    async def _unfence(self, broker_id: int) -> None:
        await self._commit(
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
                change = self._elect(state, None, unclean=self._unclean)
                if change is not None:
                    changes.append(change)
        await self._commit(changes)

    async def _controlled_shutdown(self, broker_id: int, req: dict) -> bool:
        """Move leaderships away and leave the ISRs; True once the broker may stop."""
        broker = self.image.brokers[broker_id]
        if broker.fenced:
            return True
        if not broker.in_controlled_shutdown:
            log.info("broker %d asked for a controlled shutdown", broker_id)
            await self._commit(
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
                        change = self._elect(state, broker_id, unclean=False)
                    elif len(state.isr) > 1:
                        change = self._change(state, isr=[r for r in state.isr if r != broker_id])
                    else:
                        change = None
                    if change is not None and change.get("leader") != NO_LEADER:
                        changes.append(change)
            await self._commit(changes)
            self._shutdown_offset = self.image.offset
        # The broker may stop once it has seen the records that moved its leaderships.
        if req.get("currentMetadataOffset", -1) >= getattr(self, "_shutdown_offset", 0):
            self.sessions.pop(broker_id, None)
            await self._fence(broker_id)
            return True
        return False

    async def elect_leaders(self, req: dict) -> dict:
        """Preferred (the first replica, when in the ISR and alive) or unclean elections."""
        kind = req.get("electionType", ELECTION_PREFERRED)
        topic = req.get("topic")
        if topic is not None and topic not in self.image.topics:
            return _error(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"topic '{topic}' does not exist")
        live = set(self._live())
        changes, results = [], []
        for state in list(self.image.partitions()):
            if topic is not None and state.topic != topic:
                continue
            if kind == ELECTION_PREFERRED:
                preferred = state.replicas[0]
                if state.leader == preferred:
                    code = ErrorCode.ELECTION_NOT_NEEDED
                elif preferred in state.isr and preferred in live:
                    changes.append(self._change(state, leader=preferred))
                    code = ErrorCode.NONE
                else:
                    code = ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE
            else:
                if state.leader != NO_LEADER:
                    code = ErrorCode.ELECTION_NOT_NEEDED
                else:
                    change = self._elect(state, None, unclean=True)
                    if change is not None and change.get("leader", NO_LEADER) != NO_LEADER:
                        changes.append(change)
                        code = ErrorCode.NONE
                    else:
                        code = ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE
            results.append(
                {"topic": state.topic, "partition": state.partition, "error_code": int(code)}
            )
        await self._commit(changes)
        for r in results:
            state = self.image.partition(r["topic"], r["partition"])
            r["leader"] = state.leader
        return {"error_code": 0, "results": results}


def ensure_offsets_topic_request(config: ClusterConfig, brokers: int) -> dict:
    """The CreateTopics entry of the internal offsets topic."""
    return {
        "name": OFFSETS_TOPIC,
        "numPartitions": config.offsets_topic_num_partitions,
        "replicationFactor": config.offsets_replication_factor(brokers),
        # Kafka compacts it (cleanup.policy=compact); kcli's offsets records are kept by
        # retention.ms instead, set to forever so that no committed offset is lost.
        "configs": {"retention.ms": "-1"},
    }


def main(argv: list[str] | None = None) -> None:
    """``python -m kcli.cluster.controller DIR --brokers N [--config K=V ...]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="kcli-controller")
    parser.add_argument("directory")
    parser.add_argument("--brokers", type=int, required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--config", action="append", default=[])
    args = parser.parse_args(argv)
    from kcli.cluster.config import cluster_config

    config = cluster_config(dict(item.split("=", 1) for item in args.config))
    directory = Path(args.directory)
    directory.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s controller %(levelname)s %(message)s"
    )

    async def run() -> None:
        controller = Controller(directory, config, brokers=args.brokers)
        await controller.run(args.port, directory / "controller.json")

    asyncio.run(run())


if __name__ == "__main__":
    main()
