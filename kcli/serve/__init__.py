"""``kcli serve``: the store behind Kafka's binary protocol, for real Kafka clients.

kcat, kafka-python and confluent-kafka connect to it as to a one-broker cluster (node 0): they
create and delete topics, produce, fetch, list offsets and run consumer groups, and everything
they do lands in the same files that ``kcli consume``, ``kcli log dump`` and
``kcli group describe`` read.  ``serve()`` runs until SIGINT or SIGTERM, then stops cleanly:
every acknowledged record is already fsynced, in-flight requests finish first.
"""

from __future__ import annotations

import asyncio
import errno
import signal
import sys

from kcli.errors import KcliError
from kcli.serve.config import DEFAULT_HOST, DEFAULT_PORT, BrokerConfig, broker_config
from kcli.serve.server import KafkaServer, is_loopback

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "BrokerConfig",
    "KafkaServer",
    "broker_config",
    "is_loopback",
    "serve",
]


def serve(
    store,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    config: BrokerConfig | None = None,
    live: bool | None = None,
    debug: bool = False,
) -> None:
    """Serve ``store`` on ``host:port`` until SIGINT/SIGTERM.  ``live``: draw the live table
    (default: when stdout is a terminal)."""
    if live is None:
        live = sys.stdout.isatty()
    asyncio.run(_serve(store, host, port, config or BrokerConfig(), live, debug))


async def _serve(store, host, port, config, live, debug) -> None:
    from kcli.serve.live import LiveView, setup_logging

    console = None
    if live:
        from rich.console import Console

        console = Console()
    setup_logging(console, debug=debug)
    server = KafkaServer(store, config, host, port)
    try:
        await server.start()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise KcliError(
                f"port {port} on {host} is already in use (is a Kafka broker or another "
                f"kcli serve running?); choose another with --port"
            ) from None
        raise KcliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, server.request_stop)
    address = "{}:{}".format(*server.address())
    print(
        f"kcli serve: a one-broker Kafka cluster listening on {host}:{server.port}, "
        f"data dir {store.data_dir}\n"
        f"Connect with bootstrap.servers={address}  (stop with Ctrl-C)",
        flush=True,
    )
    view_task = None
    if live:
        view_task = loop.create_task(LiveView(server, console, str(store.data_dir)).run())
    try:
        await server.wait_stopped()
    finally:
        if view_task is not None:
            view_task.cancel()
            try:
                await view_task
            except asyncio.CancelledError:
                pass
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    stats = server.stats
    print(
        f"kcli serve stopped: {stats.requests:,} requests from {stats.connections_total} "
        f"connection(s), {stats.records_in:,} records in, {stats.records_out:,} records out; "
        f"every acknowledged record is on disk.",
        flush=True,
    )
