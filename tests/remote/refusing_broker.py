"""A `kcli serve` broker that refuses every Produce with one Kafka error code, as a cluster
whose in-sync replicas are fewer than min.insync.replicas answers (NOT_ENOUGH_REPLICAS).

Everything else (ApiVersions, Metadata, DescribeConfigs, Fetch...) is the real broker over
the real wire protocol; only the append step answers the error.  Run as
``python -m tests.remote.refusing_broker DATA_DIR CODE``; it prints
``bootstrap.servers=HOST:PORT`` when it listens and stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from kcli.serve import partitions
from kcli.serve.config import BrokerConfig
from kcli.serve.server import KafkaServer
from storage import Store

# Kafka's names for the codes a test may ask for (org.apache.kafka.common.protocol.Errors).
NAMES = {19: "NOT_ENOUGH_REPLICAS", 20: "NOT_ENOUGH_REPLICAS_AFTER_APPEND"}


class _Code(int):
    """An error code with the ``name`` the broker's log line prints."""

    @property
    def name(self) -> str:
        return NAMES.get(int(self), str(int(self)))


def main() -> None:
    data_dir, code = sys.argv[1], _Code(int(sys.argv[2]))

    def refuse(self, topic, partition, records, *args, **kwargs):
        return partitions.Appended(code, message=f"{code.name} (refused by the test broker)")

    # The broker appends through Partitions only: the one place a replica layer plugs in.
    partitions.Partitions.append = refuse

    async def serve() -> None:
        server = KafkaServer(Store(data_dir), BrokerConfig(), "127.0.0.1", 0)
        await server.start()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, server.request_stop)
        host, port = server.address()
        print(f"bootstrap.servers={host}:{port}", flush=True)
        await server.wait_stopped()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
