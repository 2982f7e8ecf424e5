"""``kcli cluster``: the start banner, ``status`` (table, plain, JSON, live) and the one-line
reports of the other verbs."""

from __future__ import annotations

import time

from kcli.render.output import JSON, PLAIN, json_line, line, note, plain_rows, table

INTERNAL_PREFIX = "__"


def cluster_started(info) -> None:
    """The bootstrap address on stdout (for scripts); the rest on stderr."""
    last = info.port + info.brokers - 1
    started = ", ".join(info.started) if info.started else "nothing (it was running)"
    note(
        f"kcli cluster: {info.brokers} broker(s), ids 1..{info.brokers}, on 127.0.0.1:"
        f"{info.port}..{last}; controller on 127.0.0.1:{info.controller_port}; data in "
        f"{info.directory}.  Started: {started}."
    )
    if info.replication_factor_is_default:
        note(
            f"default.replication.factor={info.replication_factor} (min(3, brokers); Kafka's "
            f"own default is 1): set it with --config default.replication.factor=N"
        )
    line(f"bootstrap.servers={info.bootstrap_servers}")
    line(f"KCLI_BOOTSTRAP_SERVER={info.bootstrap_servers}")
    note(
        f"Use it with: kcli --profile cluster topic list   (profile 'cluster' in "
        f"{info.profile_file}), or: export KCLI_BOOTSTRAP_SERVER={info.bootstrap_servers}"
    )


def _isr_text(p: dict) -> str:
    return ",".join(str(r) for r in p["isr"])


def cluster_status(status: dict, form: str, *, internal: bool = False) -> None:
    """``status``: the dict of kcli.cluster.status.cluster_status."""
    if form == JSON:
        json_line(status)
        return
    parts = [
        p for p in status["partitions"] if internal or not p["topic"].startswith(INTERNAL_PREFIX)
    ]
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
    table(
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
        right=["PID"],
    )
    if not parts:
        note("No topics yet." if not hidden else "")
    else:
        table(
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
        )
    if hidden:
        note(f"({hidden} partition(s) of internal topics not shown; --internal shows them)")


def cluster_watch(get_status, interval_s: float, internal: bool) -> None:
    """Redraw the status tables in place until Ctrl-C."""
    from rich.console import Group
    from rich.live import Live
    from rich.table import Table

    from kcli.render.output import console

    def render() -> Group:
        status = get_status()
        parts = [
            p
            for p in status["partitions"]
            if internal or not p["topic"].startswith(INTERNAL_PREFIX)
        ]
        nodes = Table(
            "NODE",
            "ADDRESS",
            "STATE",
            "PID",
            title="kcli cluster status (Ctrl-C to stop)",
            title_justify="left",
        )
        for b in status["brokers"]:
            nodes.add_row(
                "controller" if b["controller"] else str(b["id"]),
                f"{b['host']}:{b['port']}",
                b["state"],
                str(b["pid"] or "-"),
            )
        partitions = Table("TOPIC", "PART", "LEADER", "EPOCH", "REPLICAS", "ISR", "HW", "LEOS")
        for p in parts:
            partitions.add_row(
                p["topic"],
                str(p["partition"]),
                str(p["leader"] if p["leader"] >= 0 else "none"),
                str(p["leader_epoch"]),
                ",".join(map(str, p["replicas"])),
                _isr_text(p),
                str(p["high_watermark"]),
                " ".join(f"{k}:{v}" for k, v in sorted(p["log_end_offsets"].items())),
            )
        return Group(nodes, partitions)

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
