"""`kcli cluster`: a Kafka cluster of broker processes on this machine."""

from __future__ import annotations

import typer

from kcli.commands._common import Output, output_option, parse_pairs, value_option

app = typer.Typer(
    help="A real Kafka cluster on this machine: a controller and N broker processes, with "
    "replication, in-sync replicas, leader election and acks=all.",
    no_args_is_help=True,
)

_NODE = typer.Argument(
    ..., help="A broker id (1..N), or 'controller'.", metavar="ID", show_default=False
)
_BROKERS_HELP = "Number of brokers, 1-9 (default 3)."
_PORT_HELP = "The first broker's port; broker i listens on P+i-1 (default 19092)."
_CONFIG_HELP = (
    "A broker config by Kafka's name, NAME=VALUE (repeatable): broker.session.timeout.ms "
    "(9000), broker.heartbeat.interval.ms (2000), replica.lag.time.max.ms (30000), "
    "min.insync.replicas (1), default.replication.factor (min(3, N)), "
    "unclean.leader.election.enable (false), auto.create.topics.enable (true), "
    "num.partitions (1), offsets.topic.num.partitions (10), replica.fetch.wait.max.ms (500), "
    "controlled.shutdown.enable (true), and every kcli serve config."
)


def _cluster():
    from kcli.cluster.launcher import Cluster
    from kcli.commands._common import data_dir

    return Cluster(data_dir())


@app.command("start")
def start(
    brokers: int | None = value_option(None, "--brokers", "-n", metavar="N", help=_BROKERS_HELP),
    port: int | None = value_option(None, "--port", metavar="P", help=_PORT_HELP),
    config: list[str] = value_option([], "--config", "-c", metavar="NAME=VALUE", help=_CONFIG_HELP),
) -> None:
    """Start the cluster (or the parts of it that are not running), and wait until every broker is ready.

    Each broker keeps its log directory in DATA_DIR/cluster/broker-ID/ in Kafka's layout; the controller keeps the cluster metadata in DATA_DIR/cluster/controller/metadata.log. Starting a stopped cluster again brings it back with its data.

    Examples:

      kcli cluster start

      kcli cluster start --brokers 4 --config min.insync.replicas=2

      kcli --profile cluster topic create orders --partitions 3 --replication-factor 3
    """
    from kcli import render

    info = _cluster().start(brokers, port, parse_pairs(config, "--config"))
    render.cluster_started(info)


@app.command("status")
def status(
    output: Output | None = output_option(),
    watch: bool = typer.Option(False, "--watch", "-w", help="Redraw every second until Ctrl-C."),
    internal: bool = typer.Option(
        False,
        "--internal",
        help="Also show the partitions of internal topics (__consumer_offsets).",
    ),
) -> None:
    """Show each node (address, state: running / stopped / killed / paused, pid) and each partition (leader, leader epoch, replicas, ISR, high watermark, each replica's log end offset)."""
    from kcli import render
    from kcli.cluster.status import cluster_status
    from kcli.commands._common import data_dir

    if watch:
        render.cluster_watch(lambda: cluster_status(data_dir()), 1.0, internal)
        return
    render.cluster_status(cluster_status(data_dir()), render.resolve(output), internal=internal)


@app.command("stop")
def stop(
    node: str | None = typer.Argument(
        None,
        help="A broker id, or 'controller'; without it, the whole cluster.",
        metavar="[ID]",
        show_default=False,
    ),
) -> None:
    """Stop a broker with a controlled shutdown (its leaderships move to other in-sync replicas first), or the whole cluster."""
    from kcli import render

    stopped = _cluster().stop(node)
    render.note(f"Stopped: {', '.join(stopped) if stopped else 'nothing (not running)'}.")


def _node_command(name: str, doc: str, done: str) -> None:
    """``kcli cluster NAME ID``: call ``Cluster.NAME(ID)``, then say ``done``."""

    def command(node: str = _NODE) -> None:
        from kcli import render

        getattr(_cluster(), name)(node)
        render.note(done.format(node=node))

    command.__doc__ = doc
    app.command(name)(command)


for _name, _doc, _done in (
    (
        "kill",
        "Kill a broker (or the controller) with SIGKILL, as a crash would.",
        "Killed {node} (SIGKILL).",
    ),
    (
        "pause",
        "Freeze a broker with SIGSTOP: alive but silent (no heartbeats, no fetches).",
        "Paused {node} (SIGSTOP); kcli cluster resume {node} lets it go on.",
    ),
    ("resume", "Let a paused broker go on (SIGCONT).", "Resumed {node} (SIGCONT)."),
    (
        "restart",
        "Start a killed or stopped broker (or the controller) again, with its data.",
        "Restarted {node}.",
    ),
):
    _node_command(_name, _doc, _done)


@app.command("elect-leaders")
def elect_leaders(
    topic: str | None = typer.Argument(
        None, help="Only this topic's partitions.", metavar="[TOPIC]", show_default=False
    ),
    preferred: bool = typer.Option(
        False,
        "--preferred",
        help="Give each partition back to its first replica, when in sync (the default).",
    ),
    unclean: bool = typer.Option(
        False,
        "--unclean",
        help="Give partitions without a live in-sync replica to any live replica: the records it lacks are lost.",
    ),
    output: Output | None = output_option(),
) -> None:
    """Run a leader election, as kafka-leader-election.sh does: preferred (default) or unclean."""
    from kcli import render
    from kcli.cluster.elections import elect_leaders as run_election

    if preferred and unclean:
        raise typer.BadParameter("choose one of --preferred and --unclean")
    results = run_election(_cluster(), "unclean" if unclean else "preferred", topic)
    render.elections(results, render.resolve(output))


@app.command("delete")
def delete(
    yes: bool = typer.Option(False, "--yes", help="Really delete: the cluster and all its data."),
) -> None:
    """Kill every process of the cluster and delete its data."""
    from kcli import render

    if not yes:
        raise typer.BadParameter("deleting the cluster removes all its data; add --yes to do it")
    _cluster().delete()
    render.note("Deleted the cluster and its data.")
