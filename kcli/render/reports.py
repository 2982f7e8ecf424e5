"""``kcli info`` (the store or cluster in use) and ``kcli perf`` (throughput and latency)."""

# Start-up: kcli.render is imported by every command that prints, a one-record `kcli produce`
# included, so rich's tables, text and live views are imported where they are used.

from __future__ import annotations

from kcli.render.output import JSON, PLAIN, console, human_bytes, json_line, line, table


def store_info(data: dict, form: str) -> None:
    """What ``kcli info`` shows: the local store (``data_dir``) or a cluster
    (``bootstrap_servers``)."""
    if form == JSON:
        json_line(data)
    elif form == PLAIN:
        for key, value in data.items():
            line(f"{key}: {value}")
    else:
        rows = [("Version", f"kcli {data['version']}")]
        if "data_dir" in data:
            rows.append(("Data directory", data["data_dir"]))
        else:
            security = data["security_protocol"]
            if data.get("sasl_mechanism"):
                security += f" ({data['sasl_mechanism']})"
            rows += [
                ("Kafka cluster", data["bootstrap_servers"]),
                ("Chosen by", data["from"]),
                ("Security", security),
                ("Brokers", str(data["brokers"])),
            ]
        rows += [
            ("Cluster id", data["cluster_id"]),
            ("Topics", f"{data['topics']} ({data['partitions']} partitions)"),
        ]
        if "size_bytes" in data:
            rows.append(("Size on disk", human_bytes(data["size_bytes"])))
        rows.append(("Config file", data["config_file"]))
        from rich import box
        from rich.table import Table

        t = Table(box=box.SIMPLE, show_header=False, pad_edge=False)
        t.add_column(style="bold")
        t.add_column(overflow="fold")
        for row in rows:
            t.add_row(*row)
        console().print(t)


def perf_report(kind: str, r: dict, form: str) -> None:
    """Throughput and latency, worded as Kafka's perf-test tools word them."""
    if form == JSON:
        json_line({"test": kind, **r})
        return
    if form == PLAIN:
        if kind == "produce":
            line(
                f"{r['records']} records sent, {r['records_per_sec']:.1f} records/sec "
                f"({r['mb_per_sec']:.2f} MB/sec), {r['avg_latency_ms']:.2f} ms avg latency, "
                f"{r['max_latency_ms']:.2f} ms max latency, {r['p50_latency_ms']:.2f} ms 50th, "
                f"{r['p95_latency_ms']:.2f} ms 95th, {r['p99_latency_ms']:.2f} ms 99th, "
                f"{r['p999_latency_ms']:.2f} ms 99.9th."
            )
        else:
            line(
                f"{r['records']} records consumed, {r['records_per_sec']:.1f} records/sec "
                f"({r['mb_per_sec']:.2f} MB/sec), {r['avg_latency_ms']:.2f} ms avg poll "
                f"latency, {r['p50_latency_ms']:.2f} ms 50th, {r['p99_latency_ms']:.2f} ms "
                f"99th, {r['max_latency_ms']:.2f} ms max."
            )
        return
    latency = "delivery latency" if kind == "produce" else "consume() latency"
    table(
        ["", "VALUE"],
        [
            ("records", f"{r['records']:,}"),
            ("time", f"{r['elapsed_s']:.2f} s"),
            ("throughput", f"{r['records_per_sec']:,.0f} records/s"),
            ("", f"{r['mb_per_sec']:.2f} MB/s"),
            (f"{latency} avg", f"{r['avg_latency_ms']:.2f} ms"),
            ("p50 / p95", f"{r['p50_latency_ms']:.2f} / {r['p95_latency_ms']:.2f} ms"),
            ("p99 / p99.9", f"{r['p99_latency_ms']:.2f} / {r['p999_latency_ms']:.2f} ms"),
            ("max", f"{r['max_latency_ms']:.2f} ms"),
        ],
        title=f"kcli perf {kind}",
        right=["VALUE"],
    )
