"""``kcli topic list`` and ``kcli topic describe``: JSON, plain lines or rich tables."""

# Start-up: kcli.render is imported by every command that prints, a one-record `kcli produce`
# included, so rich's tables, text and live views are imported where they are used.

from __future__ import annotations

from kcli.render.output import (
    JSON,
    PLAIN,
    _dash,
    console,
    hint,
    human_bytes,
    human_ms,
    json_line,
    line,
    note,
    table,
)
from kcli.render.picture import partition_picture


def topic_list(rows: list[dict], form: str) -> None:
    """``rows``: dicts with topic, partitions, records, size_bytes."""
    if form == JSON:
        for r in rows:
            json_line({"topic": r["topic"], "partitions": r["partitions"]})
    elif form == PLAIN:
        for r in rows:
            line(r["topic"])
    elif not rows:
        note("No topics yet.")
        hint("create one with: kcli topic create tweets --partitions 3")
    else:
        table(
            ["TOPIC", "PARTITIONS", "RECORDS", "SIZE"],
            [
                (
                    r["topic"],
                    r["partitions"],
                    f"{r['records']:,}",
                    "-" if r["size_bytes"] is None else human_bytes(r["size_bytes"]),
                )
                for r in rows
            ],
            right=["PARTITIONS", "RECORDS", "SIZE"],
        )


def _ids(ids) -> str:
    return ",".join(str(i) for i in ids or ())


def _replicas_json(p) -> dict:
    if p.leader is None:
        return {}
    return {"leader": p.leader, "replicas": list(p.replicas), "isr": list(p.isr)}


def topic_describe(desc, segments: dict[int, list], form: str) -> None:
    """A TopicDescription, with each partition's SegmentInfo list for the picture."""
    parts = desc.partitions
    if form == JSON:
        json_line(
            {
                "topic": desc.topic,
                "partitions": [
                    {
                        "partition": p.partition,
                        "log_start_offset": p.log_start_offset,
                        "log_end_offset": p.log_end_offset,
                        "size_bytes": p.size_bytes,
                        "segments": p.segments,
                        **_replicas_json(p),
                    }
                    for p in parts
                ],
                "config": desc.config,
            }
        )
        return
    if form == PLAIN:
        configs = ",".join(f"{k}={v}" for k, v in sorted(desc.overrides.items()))
        line(
            f"Topic: {desc.topic}\tTopicId: {desc.topic_id or '-'}\tPartitionCount: {len(parts)}"
            f"\tConfigs: {configs}"
        )
        for p in parts:
            # A cluster does not show sizes and segments (None): "-".
            line(
                f"\tTopic: {desc.topic}\tPartition: {p.partition}"
                + (
                    ""
                    if p.leader is None
                    else f"\tLeader: {p.leader if p.leader >= 0 else 'none'}"
                    f"\tReplicas: {_ids(p.replicas)}\tIsr: {_ids(p.isr)}"
                )
                + f"\tLogStartOffset: {p.log_start_offset}\tLogEndOffset: {p.log_end_offset}"
                f"\tSize: {_dash(p.size_bytes)}\tSegments: {_dash(p.segments)}"
            )
        return
    from rich.text import Text

    con = console()
    records = sum(p.log_end_offset - p.log_start_offset for p in parts)
    con.print(
        Text.assemble(
            ("Topic ", "bold"),
            (desc.topic, "bold cyan"),
            f"  {len(parts)} partition{'s' if len(parts) != 1 else ''}, "
            f"{records:,} record{'s' if records != 1 else ''}",
            (f"  (id {desc.topic_id})" if desc.topic_id else "", "dim"),
        )
    )
    if parts and parts[0].leader is not None:
        # A cluster: where the copies are, as kafka-topics --describe shows (no sizes there).
        table(
            ["PARTITION", "LEADER", "REPLICAS", "ISR", "LOG-START", "LOG-END", "RECORDS"],
            [
                (
                    p.partition,
                    p.leader if p.leader >= 0 else "none",
                    _ids(p.replicas),
                    _ids(p.isr),
                    p.log_start_offset,
                    p.log_end_offset,
                    p.log_end_offset - p.log_start_offset,
                )
                for p in parts
            ],
            right=["PARTITION", "LEADER", "LOG-START", "LOG-END", "RECORDS"],
        )
    else:
        table(
            ["PARTITION", "LOG-START-OFFSET", "LOG-END-OFFSET", "RECORDS", "SIZE", "SEGMENTS"],
            [
                (
                    p.partition,
                    p.log_start_offset,
                    p.log_end_offset,
                    p.log_end_offset - p.log_start_offset,
                    "-" if p.size_bytes is None else human_bytes(p.size_bytes),
                    _dash(p.segments),
                )
                for p in parts
            ],
            right=[
                "PARTITION",
                "LOG-START-OFFSET",
                "LOG-END-OFFSET",
                "RECORDS",
                "SIZE",
                "SEGMENTS",
            ],
        )
    partition_picture(parts, segments)
    defaults = {k: v for k, v in desc.config.items() if k not in desc.overrides}
    rows = []
    for key, value in desc.config.items():
        shown = f"{value}"
        if key.endswith(".ms") and isinstance(value, int):
            shown = f"{value} ({human_ms(value)})"
        elif key.endswith(".bytes") and isinstance(value, int) and value >= 1024:
            shown = f"{value} ({human_bytes(value)})"
        rows.append((key, shown, "default" if key in defaults else "set for this topic"))
    table(["CONFIG", "VALUE", "SOURCE"], rows)
