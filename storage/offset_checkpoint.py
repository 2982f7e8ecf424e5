"""Kafka's offset checkpoint files (``replication-offset-checkpoint`` and friends): a version
line, a count line, then one ``topic partition offset`` line per partition; written to a temp
file, fsynced and renamed."""

from __future__ import annotations

from pathlib import Path

from storage.fileio import atomic_write

VERSION = 0


def read_offset_checkpoint(path: Path) -> dict[tuple[str, int], int]:
    """The offsets in ``path``; {} when it is missing or damaged (it is only a checkpoint)."""
    out = {}
    try:
        lines = path.read_text().split("\n")
        for line in lines[2 : 2 + int(lines[1])]:
            topic, partition, offset = line.split()
            out[(topic, int(partition))] = int(offset)
    except (FileNotFoundError, ValueError, IndexError):
        return {}
    return out


def write_offset_checkpoint(path: Path, offsets: dict[tuple[str, int], int]) -> None:
    lines = [f"{t} {p} {o}\n" for (t, p), o in sorted(offsets.items())]
    atomic_write(path, f"{VERSION}\n{len(lines)}\n{''.join(lines)}".encode())
