"""``kcli topic list``, ``describe`` and ``compact``: JSON, plain lines or rich tables."""

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


def _records(p) -> int | None:
    """How many offsets a partition spans; None where its offsets are unknown."""
    if p.log_start_offset is None or p.log_end_offset is None:
        return None
    return p.log_end_offset - p.log_start_offset


def _unknown_offsets_note(parts) -> None:
    unknown = [p for p in parts if _records(p) is None]
    if unknown:
        leaders = sorted({str(p.leader) for p in unknown})
        note(
            f"offsets of partition{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(str(p.partition) for p in unknown)} unknown: leader"
            f"{'s' if len(leaders) > 1 else ''} {', '.join(leaders)} did not answer (a broker "
            f"that just died stays leader until the controller fences it)"
        )


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
                        **_compaction_json(p.compaction),
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
                + f"\tLogStartOffset: {_dash(p.log_start_offset)}"
                f"\tLogEndOffset: {_dash(p.log_end_offset)}"
                f"\tSize: {_dash(p.size_bytes)}\tSegments: {_dash(p.segments)}"
                + _compaction_plain(p.compaction)
            )
        _unknown_offsets_note(parts)
        return
    from rich.text import Text

    con = console()
    records = sum(_records(p) or 0 for p in parts)
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
                    _dash(p.log_start_offset),
                    _dash(p.log_end_offset),
                    _dash(_records(p)),
                )
                for p in parts
            ],
            right=["PARTITION", "LEADER", "LOG-START", "LOG-END", "RECORDS"],
        )
        _unknown_offsets_note(parts)
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
    if any(p.compaction is not None for p in parts):
        _compaction_table(parts)
    defaults = {k: v for k, v in desc.config.items() if k not in desc.overrides}
    rows = []
    for key, value in desc.config.items():
        shown = f"{value}"
        if key.endswith(".ms") and isinstance(value, int) and value < 2**62:
            shown = f"{value} ({human_ms(value)})"
        elif key.endswith(".bytes") and isinstance(value, int) and value >= 1024:
            shown = f"{value} ({human_bytes(value)})"
        rows.append((key, shown, "default" if key in defaults else "set for this topic"))
    table(["CONFIG", "VALUE", "SOURCE"], rows)


# -- compaction ----------------------------------------------------------------------------


def _compaction_json(section) -> dict:
    if section is None:
        return {}
    return {
        "compaction": {
            "first_dirty_offset": section.first_dirty_offset,
            "first_uncleanable_offset": section.first_uncleanable_offset,
            "clean_bytes": section.clean_bytes,
            "dirty_bytes": section.dirty_bytes,
            "dirty_ratio": round(section.dirty_ratio, 4),
        }
    }


def _compaction_plain(section) -> str:
    if section is None:
        return ""
    return (
        f"\tFirstDirtyOffset: {section.first_dirty_offset}\tDirtyRatio: {section.dirty_ratio:.2f}"
    )


def _compaction_table(parts) -> None:
    """Each partition's cleaned and dirty sections, as the log cleaner sees them."""
    rows = []
    for p in parts:
        s = p.compaction
        if s is None:
            continue
        rows.append(
            (
                p.partition,
                _span(s.log_start_offset, s.first_dirty_offset),
                human_bytes(s.clean_bytes),
                _span(s.first_dirty_offset, s.first_uncleanable_offset),
                human_bytes(s.dirty_bytes),
                f"{s.dirty_ratio:.2f}",
            )
        )
    table(
        ["PARTITION", "CLEANED", "CLEAN-SIZE", "DIRTY", "DIRTY-SIZE", "DIRTY-RATIO"],
        rows,
        right=["PARTITION", "CLEAN-SIZE", "DIRTY-SIZE", "DIRTY-RATIO"],
        title="Compaction: cleaned and dirty offsets (never the active segment)",
    )


def _span(first: int, end: int) -> str:
    """Offsets ``first`` up to ``end`` (exclusive), as first..last."""
    return f"{first}..{end - 1}" if end > first else "-"


def topic_compact(results: list, form: str) -> None:
    """What ``kcli topic compact`` cleaned: one storage.cleaner.CleanResult per partition."""
    if form == JSON:
        for r in results:
            json_line(
                {
                    "topic": r.topic,
                    "partition": r.partition,
                    "first_dirty_offset": r.first_dirty_offset,
                    "cleaned_up_to": r.cleaned_up_to,
                    "keys": r.keys_mapped,
                    "records_read": r.records_read,
                    "records_removed": r.records_removed,
                    "bytes_removed": r.bytes_removed,
                    "segments_rewritten": len(r.segments),
                    "skipped": r.skipped or None,
                }
            )
        return
    if form == PLAIN:
        for r in results:
            line(
                f"{r.topic}\t{r.partition}\tremoved {r.records_removed} records "
                f"({r.bytes_removed} bytes) in {len(r.segments)} segments; cleaned up to "
                f"offset {r.cleaned_up_to}" + (f" ({r.skipped})" if r.skipped else "")
            )
        return
    table(
        ["PARTITION", "KEYS", "READ", "REMOVED", "FREED", "SEGMENTS", "CLEANED-TO"],
        [
            (
                r.partition,
                f"{r.keys_mapped:,}",
                f"{r.records_read:,}",
                f"{r.records_removed:,}",
                human_bytes(r.bytes_removed),
                len(r.segments),
                _dash(r.cleaned_up_to if r.cleaned_up_to >= 0 else None),
            )
            for r in results
        ],
        right=["PARTITION", "KEYS", "READ", "REMOVED", "FREED", "SEGMENTS", "CLEANED-TO"],
    )
    for r in results:
        if r.skipped:
            note(f"partition {r.partition}: {r.skipped}")
