"""`kcli serve`."""

# Start-up: every command module is imported for `kcli --help`, so the engine (storage),
# kcli.render and rich are imported inside the commands that use them (benchmarks/bench_cli.py).

from __future__ import annotations

import typer

from kcli.settings import current


def serve(
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on. Non-loopback needs --allow-remote."
    ),
    port: int = typer.Option(
        9092, "--port", min=0, max=65535, help="Port to listen on (0: any free port)."
    ),
    allow_remote: bool = typer.Option(
        False,
        "--allow-remote",
        help="Allow listening on a non-loopback address. There is no authentication: "
        "anyone who can reach the port can read, write and delete every topic.",
    ),
    config: list[str] = typer.Option(
        [],
        "--config",
        "-c",
        metavar="KEY=VALUE",
        help="A broker config, by Kafka's name (repeatable): num.partitions, "
        "auto.create.topics.enable, socket.request.max.bytes, queued.max.request.bytes, "
        "connections.max.idle.ms, request.read.timeout.ms, max.connections, "
        "max.connections.per.ip, connection.first.request.timeout.ms, num.io.threads, "
        "group.initial.rebalance.delay.ms, group.min.session.timeout.ms, "
        "group.max.session.timeout.ms, offset.metadata.max.bytes, advertised.listeners.",
    ),
) -> None:
    """Serve the store over Kafka's wire protocol, so real Kafka clients work against it.

    kcat, kafka-python, confluent-kafka and other Kafka clients (Kafka 4.1's protocol versions, see docs/protocol.md) see a one-broker cluster at HOST:PORT: they create and delete topics, produce, consume and run consumer groups in the same topics, files and committed offsets that kcli's own commands use. Topics that clients ask for are created on first use with num.partitions partitions (1 by default), as a Kafka broker with auto.create.topics.enable=true does.

    On a terminal a live table shows connections and groups; otherwise one log line per event. Ctrl-C or SIGTERM stops it cleanly: every acknowledged record is on disk.

    Examples:

      kcli serve

      kcat -b 127.0.0.1:9092 -L

      kcli serve --port 19092 --config num.partitions=3
    """

    current().require_local("serve")  # it serves the local store; it cannot front a cluster
    from kcli.serve import broker_config, is_loopback
    from kcli.serve import serve as run_server

    if not is_loopback(host) and not allow_remote:
        raise typer.BadParameter(
            f"{host} is not a loopback address; kcli serve has no authentication, so "
            f"listening there needs --allow-remote (or use --host 127.0.0.1)",
            param_hint="'--host'",
        )
    overrides = {}
    for item in config:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(
                f"'{item}' is not KEY=VALUE (for example num.partitions=3)",
                param_hint="'--config'",
            )
        overrides[key.strip()] = value.strip()
    broker = broker_config(overrides)
    settings = current()
    if not is_loopback(host):
        typer.echo(
            f"Warning: listening on {host}:{port} with no authentication and no encryption: "
            f"anyone who can reach it can read, write and delete every topic.",
            err=True,
        )
    run_server(settings.store(), host=host, port=port, config=broker, debug=settings.debug)
