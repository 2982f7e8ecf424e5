"""The partition picture: each partition of a topic as a row of offsets, segment by segment."""

# Start-up: kcli.render is imported by every command that prints, a one-record `kcli produce`
# included, so rich's tables, text and live views are imported where they are used.

from __future__ import annotations

from types import SimpleNamespace

from kcli.render.output import console


def partition_picture(parts, segments: dict[int, list] | None) -> None:
    """Each partition as a row of offsets, left to right, on one scale for all partitions.

    With few records every offset is its own block under its number; with many, the row is
    scaled.  Segments alternate between two shades so their boundaries show; offsets already
    removed by retention are drawn as ░.  Reads at 80 columns and without colours.
    ``segments`` None (a cluster, which does not show them): one block per partition.
    """
    from rich.text import Text

    con = console()
    width = min(con.width, 100)
    top = max((p.log_end_offset for p in parts), default=0)
    if segments is None:
        live = {
            p.partition: [
                SimpleNamespace(base_offset=p.log_start_offset, next_offset=p.log_end_offset)
            ]
            if p.log_end_offset > p.log_start_offset
            else []
            for p in parts
        }
    else:
        live = {
            p.partition: [s for s in segments.get(p.partition, []) if s.next_offset > s.base_offset]
            for p in parts
        }
    labels = []
    for p in parts:
        n = len(live[p.partition])
        records = p.log_end_offset - p.log_start_offset
        if records <= 0:
            labels.append("empty")
        elif segments is None:
            labels.append(f"{records} record{'s' if records != 1 else ''}")
        else:
            labels.append(f"{n} segment{'s' if n != 1 else ''}")
    label_width = max((len(x) for x in labels), default=5)
    name_width = len(str(max((p.partition for p in parts), default=0))) + 1
    bar = max(10, width - name_width - label_width - 4)
    cell = min(bar // top, 8) if top else 0
    styles = ("cyan", "blue")
    glyphs = ("█", "▓")
    legend = (
        "   █ records (no segments shown)   ░ removed by retention"
        if segments is None
        else "   █▓ segments (alternating)   ░ removed by retention"
    )
    con.print(Text.assemble(("Offsets, left to right", "bold"), (legend, "dim")))
    axis = Text(" " * (name_width + 2), style="dim")
    if cell >= 3:
        for o in range(top):
            axis.append(f"{o:<{cell}}"[:cell])
    elif top:
        axis.append(f"{0:<{bar - len(str(top - 1))}}{top - 1}")
    con.print(axis, no_wrap=True, overflow="crop")
    for p, label in zip(parts, labels, strict=True):
        text = Text(f" p{p.partition:<{name_width - 1}} ", style="bold")
        used = 0
        if cell >= 3:
            block = cell - 1
            text.append(("░" * block + " ") * p.log_start_offset, style="dim")
            for i, seg in enumerate(live[p.partition]):
                count = seg.next_offset - max(seg.base_offset, p.log_start_offset)
                text.append((glyphs[i % 2] * block + " ") * count, style=styles[i % 2])
            used = cell * p.log_end_offset
        elif top:
            used = round(p.log_start_offset * bar / top)
            text.append("░" * used, style="dim")
            for i, seg in enumerate(live[p.partition]):
                end = min(max(round(seg.next_offset * bar / top), used + 1), bar)
                if end > used:
                    text.append(glyphs[i % 2] * (end - used), style=styles[i % 2])
                    used = end
        text.append(" " * (max(bar, cell * top) - used + 1))
        text.append(label, style="dim")
        con.print(text, no_wrap=True, overflow="crop")
