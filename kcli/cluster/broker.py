"""One broker process of ``kcli cluster``: a ``kcli serve`` server with a replica manager, linked
to the controller.

Its life, as a KRaft broker's: start listening; register with the controller
(BrokerRegistration; a restarted broker waits until its previous session has expired); replay
the metadata log (a long-polling fetch) and heartbeat every ``broker.heartbeat.interval.ms``
(BrokerHeartbeat); the controller unfences it once it has caught up with the metadata.  On
SIGTERM it shuts down in a controlled way: it asks the controller to move its leaderships
away (``wantShutDown``), keeps serving until told ``shouldShutDown``, then stops.  SIGKILL is
a crash: the controller notices the missed heartbeats.

Run as ``python -m kcli.cluster.broker``; the launcher starts it.  Imports stay lean (no Typer,
no rich): four of these run at once.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import time
import uuid
from pathlib import Path

from kcli.cluster.config import ClusterConfig, cluster_config
from kcli.cluster.constants import CONTROLLER_DIR, CONTROLLER_PORT_FILE, HOST
from kcli.cluster.fetcher import FetcherManager
from kcli.cluster.replica_manager import ReplicaManager
from kcli.cluster.rpc import AsyncControllerClient, ControllerUnavailable
from kcli.serve.config import broker_config
from kcli.serve.protocol import ErrorCode
from kcli.serve.server import KafkaServer
from storage import Store
from storage.constants import META_FILE
from storage.meta_properties import read_meta_properties, write_new_meta_properties

log = logging.getLogger("kcli.cluster")

RETRY_S = 0.5
# How long a controlled shutdown waits for the controller before stopping anyway.
CONTROLLED_SHUTDOWN_TIMEOUT_S = 30.0


def format_log_dir(directory: Path, cluster_id: str) -> None:
    """Give the broker's log directory the cluster's id, as ``kafka-storage format -t ID``
    does, so that every broker reports the same cluster id to clients.  A directory from
    before the brokers shared one takes the cluster's (it is under the cluster's own data
    directory, so it cannot belong to another cluster)."""
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / META_FILE).exists():
        found = read_meta_properties(directory).get("cluster.id")
        if found == cluster_id:
            return
        log.info("%s: cluster.id %s becomes the cluster's, %s", directory, found, cluster_id)
    write_new_meta_properties(directory, cluster_id)


class ClusterBroker:
    """The broker's link to the controller and its background tasks."""

    def __init__(
        self,
        node_id: int,
        directory: Path,
        port: int,
        controller_port: int,
        config: ClusterConfig,
        serve_overrides: dict[str, str],
        brokers: int,
        *,
        incarnation_id: str | None = None,
        cluster_id: str,
    ):
        self.node_id = node_id
        self.config = config
        format_log_dir(directory, cluster_id)
        self.store = Store(directory)
        timeout_s = config.broker_session_timeout_ms / 1000
        # One connection per conversation: a long-polling metadata fetch must not hold up a
        # heartbeat.
        port_file = directory.parent / CONTROLLER_DIR / CONTROLLER_PORT_FILE

        def controller_client(client_timeout_s: float) -> AsyncControllerClient:
            return AsyncControllerClient(
                HOST, controller_port, client_timeout_s, port_file=port_file
            )

        self.metadata_client = controller_client(timeout_s + 5)
        self.heartbeat_client = controller_client(timeout_s)
        self.manager = ReplicaManager(
            node_id,
            self.store,
            config,
            controller_client(timeout_s),
            brokers=brokers,
        )
        overrides = {
            "auto.create.topics.enable": str(config.auto_create_topics_enable).lower(),
            "num.partitions": str(config.num_partitions),
            **serve_overrides,
        }
        self.server = KafkaServer(
            self.store, broker_config(overrides), HOST, port, replication=self.manager
        )
        self.incarnation_id = incarnation_id or uuid.uuid4().hex
        self.metadata_offset = 0
        self.want_shutdown = False
        self.should_shutdown = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    async def run(self) -> None:
        await self.server.start()
        self.manager.attach(self.server)
        self.manager.fetchers = FetcherManager(self.manager)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._begin_shutdown)
        await self._register()
        for coro in (
            self._fetch_metadata(),
            self._heartbeat(),
            self.manager.check_isr(),
            self.manager.checkpoint_high_watermarks(),
        ):
            self._tasks.append(loop.create_task(coro))
        log.info("broker %d listening on %s:%d", self.node_id, HOST, self.server.port)
        await self.should_shutdown.wait()
        log.info("broker %d stopping", self.node_id)
        await self.manager.fetchers.stop()
        for task in self._tasks:
            task.cancel()
        self.server.request_stop()
        await self.server.wait_stopped()
        self.manager.write_hw_checkpoint()

    def _begin_shutdown(self) -> None:
        if self.want_shutdown:
            return
        self.want_shutdown = True
        if not self.config.controlled_shutdown_enable:
            self.should_shutdown.set()
            return
        asyncio.get_running_loop().call_later(
            CONTROLLED_SHUTDOWN_TIMEOUT_S, self.should_shutdown.set
        )

    async def _register(self) -> None:
        while True:
            try:
                answer = await self.heartbeat_client.call(
                    "BrokerRegistration",
                    brokerId=self.node_id,
                    host=HOST,
                    port=self.server.port,
                    incarnationId=self.incarnation_id,
                )
            except ControllerUnavailable as exc:
                log.info("registering: %s", exc)
                await asyncio.sleep(RETRY_S)
                continue
            if answer["error_code"] == 0:
                self.manager.broker_epoch = answer["brokerEpoch"]
                log.info("registered with broker epoch %d", self.manager.broker_epoch)
                return
            log.info("registration refused: %s", answer.get("error_message"))
            await asyncio.sleep(RETRY_S)

    async def _fetch_metadata(self) -> None:
        while True:
            try:
                answer = await self.metadata_client.call(
                    "FetchMetadata", offset=self.metadata_offset, maxWaitMs=1000
                )
            except ControllerUnavailable:
                await asyncio.sleep(RETRY_S)
                continue
            records = answer["records"]
            if records:
                await self.manager.apply_records(self.metadata_offset, records)
                self.metadata_offset += len(records)

    async def _heartbeat(self) -> None:
        interval = self.config.broker_heartbeat_interval_ms / 1000
        while True:
            started = time.monotonic()
            try:
                answer = await self.heartbeat_client.call(
                    "BrokerHeartbeat",
                    brokerId=self.node_id,
                    brokerEpoch=self.manager.broker_epoch,
                    currentMetadataOffset=self.metadata_offset - 1,
                    wantShutDown=self.want_shutdown,
                )
                if answer["error_code"] == ErrorCode.STALE_BROKER_EPOCH:
                    log.warning(
                        "the controller no longer knows this registration: registering again"
                    )
                    await self._register()
                elif answer.get("shouldShutDown"):
                    self.should_shutdown.set()
                    return
            except ControllerUnavailable as exc:
                log.debug("heartbeat: %s", exc)
            # While shutting down, ask again soon rather than after a whole interval.
            pause = RETRY_S / 2 if self.want_shutdown else interval
            await asyncio.sleep(max(0.0, pause - (time.monotonic() - started)))


def arguments() -> argparse.ArgumentParser:
    """The broker process's command line (the launcher writes it)."""
    parser = argparse.ArgumentParser(prog="kcli-broker")
    parser.add_argument("directory")
    parser.add_argument("--id", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--controller-port", type=int, required=True)
    parser.add_argument("--brokers", type=int, required=True)
    parser.add_argument("--incarnation-id", default=None)
    parser.add_argument("--cluster-id", required=True)
    parser.add_argument("--config", action="append", default=[])
    parser.add_argument("--serve-config", action="append", default=[])
    return parser


def main(argv: list[str] | None = None) -> None:
    args = arguments().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format=f"%(asctime)s broker-{args.id} %(levelname)s %(message)s"
    )
    config = cluster_config(dict(item.split("=", 1) for item in args.config))
    serve_overrides = dict(item.split("=", 1) for item in args.serve_config)
    broker = ClusterBroker(
        args.id,
        Path(args.directory),
        args.port,
        args.controller_port,
        config,
        serve_overrides,
        args.brokers,
        incarnation_id=args.incarnation_id,
        cluster_id=args.cluster_id,
    )
    asyncio.run(broker.run())


if __name__ == "__main__":
    main()
