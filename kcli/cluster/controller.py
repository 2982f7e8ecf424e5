"""The controller: the one process that decides, and writes every decision to the metadata log.

As a KRaft controller does, it registers brokers (``BrokerRegistration``), keeps each one's
session alive with its heartbeats (``BrokerHeartbeat``) and fences a broker that stays silent
for ``broker.session.timeout.ms``; creates and deletes topics and places their replicas; takes
ISR changes from partition leaders (``AlterPartition``); elects leaders from the ISR with a
bumped leader epoch when a leader is fenced or shuts down (out of the ISR only with
``unclean.leader.election.enable``); hands out blocks of producer ids; and serves the metadata
log to brokers (a long-polling fetch).  A decision counts once its records are fsynced.

``Controller`` owns the metadata log and its image, and composes one part per concept:
``BrokerLiveness`` (``controller_brokers``: registration, heartbeats, fencing, controlled
shutdown), ``PartitionLeadership`` (``controller_partitions``: AlterPartition and elections)
and ``TopicControl`` (``controller_topics``: topics, partitions, configs).

One controller, not a quorum: Kafka runs 3 or 5 so that a majority survives the loss of one or
two, and elects a new active controller by Raft; kcli's one controller is a single point of
failure on purpose, to show what a cluster can and cannot do without one (docs/cluster.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import time
from pathlib import Path

from kcli.cluster.config import ClusterConfig
from kcli.cluster.constants import CONTROLLER_PORT_FILE, HOST
from kcli.cluster.controller_brokers import BrokerLiveness
from kcli.cluster.controller_partitions import PartitionLeadership
from kcli.cluster.controller_topics import TopicControl
from kcli.cluster.metadata import MetadataImage, MetadataLog
from kcli.cluster.rpc import error_answer, serve_lines
from kcli.serve.protocol import ErrorCode

log = logging.getLogger("kcli.cluster.controller")

# Producer ids are handed to brokers in blocks, as Kafka's AllocateProducerIds does.
PRODUCER_ID_BLOCK = 1000


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
        self._appended = asyncio.Event()
        # Requests that change the metadata are decided one at a time.
        self.lock = asyncio.Lock()
        self._server = None
        self._stopping = asyncio.Event()
        self.partitions = PartitionLeadership(self)
        self.brokers = BrokerLiveness(self, self.partitions)
        self.topics = TopicControl(self)

    @property
    def sessions(self) -> dict[int, float]:
        return self.brokers.sessions

    async def commit(self, records: list[dict]) -> None:
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

    def live(self) -> list[int]:
        """The brokers that may lead or join an ISR: unfenced, not shutting down."""
        return [b.broker_id for b in self.image.live_brokers() if not b.in_controlled_shutdown]

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
        checker = loop.create_task(self.brokers.check_sessions())
        await self._stopping.wait()
        checker.cancel()
        self._server.close()
        self.metadata_log.close()

    # -- requests -------------------------------------------------------------------------

    async def handle(self, request: dict) -> dict:
        api = request.get("api")
        handler = {
            "BrokerRegistration": self.brokers.broker_registration,
            "BrokerHeartbeat": self.brokers.broker_heartbeat,
            "FetchMetadata": self.fetch_metadata,
            "CreateTopics": self.topics.create_topics,
            "DeleteTopics": self.topics.delete_topics,
            "CreatePartitions": self.topics.create_partitions,
            "AlterConfigs": self.topics.alter_configs,
            "AlterPartition": self.partitions.alter_partition,
            "ElectLeaders": self.partitions.elect_leaders,
            "AllocateProducerIds": self.allocate_producer_ids,
            "DescribeCluster": self.describe_cluster,
        }.get(api)
        if handler is None:
            return error_answer(ErrorCode.INVALID_REQUEST, f"unknown controller API {api!r}")
        if api == "FetchMetadata":
            return await handler(request)
        async with self.lock:
            return await handler(request)

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
        await self.commit(
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
        await controller.run(args.port, directory / CONTROLLER_PORT_FILE)

    asyncio.run(run())


if __name__ == "__main__":
    main()
