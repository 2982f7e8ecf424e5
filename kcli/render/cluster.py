"""``kcli cluster``: the start banner, ``status`` (table, plain, JSON, live) and the one-line
reports of the other verbs."""

from __future__ import annotations

import time

from kcli.render.output import JSON, PLAIN, json_line, line, note, plain_rows, rich_table, table

INTERNAL_PREFIX = "__"


def cluster_started(info) -> None:
    """The bootstrap address on stdout (for scripts); the rest on stderr, in lines that fit
    an 80-column terminal (a long path or address on a line of its own)."""
    last = info.port + info.brokers - 1
    started = ", ".join(info.started) if info.started else "nothing (it was running)"
    brokers = f"{info.brokers} broker{'s' if info.brokers != 1 else ''}"
    note(f"kcli cluster: {brokers}, ids 1..{info.brokers}, on 127.0.0.1:{info.port}..{last}")
    note(f"  controller on 127.0.0.1:{info.controller_port}; started: {started}")
    note(f"  data in {info.directory}")
    if info.replication_factor_is_default:
        note(
            f"default.replication.factor={info.replication_factor} (min(3, brokers); Kafka's "
            f"own default is 1);"
        )
        note("  set it with --config default.replication.factor=N")
    line(f"bootstrap.servers={info.bootstrap_servers}")
    line(f"KCLI_BOOTSTRAP_SERVER={info.bootstrap_servers}")
    if info.profile_file is not None:
        note("Use it with: kcli --profile cluster topic list")
        note(f"  (profile 'cluster' in {info.profile_file}), or in this shell:")
    else:
        note("Use it in this shell with:")
    note(f"  export KCLI_BOOTSTRAP_SERVER={info.bootstrap_servers}")


def _isr_text(p: dict) -> str:
    return ",".join(str(r) for r in p["isr"])


def cluster_status(status: dict, form: str, *, internal: bool = False) -> None:
    """``status``: the dict of kcli.cluster.status.cluster_status."""
    if form == JSON:
        json_line(status)
        return
    parts = _shown(status, internal)
    hidden = len(status["partitions"]) - len(parts)
    if form == PLAIN:
        for b in status["brokers"]:
            name = "controller" if b["controller"] else f"broker-{b['id']}"
            plain_rows([(name, f"{b['host']}:{b['port']}", b["state"], b["pid"] or "-")])
        for p in parts:
            leos = ",".join(f"{k}:{v}" for k, v in sorted(p["log_end_offsets"].items()))
            plain_rows(
                [
                    (
                        p["topic"],
                        p["partition"],
                        p["leader"],
                        p["leader_epoch"],
                        ",".join(map(str, p["replicas"])),
                        _isr_text(p),
                        p["high_watermark"],
                        leos,
                    )
                ]
            )
        return
    print_status_tables(status, parts, hidden)


def print_status_tables(status: dict, parts: list[dict], hidden: int) -> None:
    from kcli.render.output import console

    console().print(status_view(status, parts=parts))
    if not parts:
        note("No topics yet." if not hidden else "")
    if hidden:
        note(f"({hidden} partition(s) of internal topics not shown; --internal shows them)")


def _shown(status: dict, internal: bool) -> list[dict]:
    return [
        p for p in status["partitions"] if internal or not p["topic"].startswith(INTERNAL_PREFIX)
    ]


def status_view(
    status: dict,
    *,
    internal: bool = False,
    parts: list[dict] | None = None,
    title: str | None = None,
):
    """The tables of ``kcli cluster status`` as one rich renderable: the nodes, then the
    partitions (``parts``: those of ``status`` but internal topics' unless ``internal``).
    Printed by ``status``, redrawn by ``status --watch`` and by ``kcli demo cluster``."""
    from rich.console import Group

    if parts is None:
        parts = _shown(status, internal)
    nodes = rich_table(
        ["NODE", "ADDRESS", "STATE", "PID", "ROLE"],
        [
            (
                "controller" if b["controller"] else b["id"],
                f"{b['host']}:{b['port']}",
                b["state"]
                + (
                    ""
                    if b["controller"] or not b.get("fenced") or b["state"] != "running"
                    else " (fenced)"
                ),
                b["pid"] or "-",
                "controller" if b["controller"] else "broker",
            )
            for b in status["brokers"]
        ],
        title=title,
        right=["PID"],
        compact=True,
    )
    if not parts:
        return Group(nodes)
    partitions = rich_table(
        ["TOPIC", "PART", "LEADER", "EPOCH", "REPLICAS", "ISR", "HW", "LOG END OFFSETS"],
        [
            (
                p["topic"],
                p["partition"],
                p["leader"] if p["leader"] >= 0 else "none",
                p["leader_epoch"],
                ",".join(map(str, p["replicas"])),
                _isr_text(p),
                p["high_watermark"],
                " ".join(f"{k}:{v}" for k, v in sorted(p["log_end_offsets"].items())),
            )
            for p in parts
        ],
        right=["PART", "LEADER", "EPOCH", "HW"],
        compact=True,
    )
    return Group(nodes, "", partitions)


def cluster_watch(get_status, interval_s: float, internal: bool) -> None:
    """Redraw the status tables in place until Ctrl-C."""
    from rich.live import Live

    from kcli.render.output import console

    def render():
        return status_view(
            get_status(), internal=internal, title="kcli cluster status (Ctrl-C to stop)"
        )

    try:
        with Live(render(), console=console(), refresh_per_second=4, screen=False) as live:
            while True:
                time.sleep(interval_s)
                live.update(render())
    except KeyboardInterrupt:
        pass


def elections(results: list[dict], form: str) -> None:
    """``kcli cluster elect-leaders``: one row per partition."""
    if form == JSON:
        for r in results:
            json_line(r)
        return
    rows = [
        (r["topic"], r["partition"], r["result"], r["leader"] if r["leader"] >= 0 else "none")
        for r in results
    ]
    if form == PLAIN:
        plain_rows(rows)
    else:
        table(["TOPIC", "PARTITION", "RESULT", "LEADER"], rows, right=["PARTITION", "LEADER"])
