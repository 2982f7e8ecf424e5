"""Kafka's offset checkpoint files (``replication-offset-checkpoint``,
``recovery-point-offset-checkpoint``, ``log-start-offset-checkpoint``, ...): a version line, a
count line, then one ``topic partition offset`` line per partition; written to a temp file,
fsynced and renamed."""

from __future__ import annotations

from pathlib import Path

from storage.fileio import atomic_write

VERSION = 0


def parse_offset_checkpoint(text: str) -> dict[tuple[str, int], int]:
    """The offsets in a checkpoint file's text; ValueError when it is not one."""
    lines = text.split("\n")
    try:
        if int(lines[0]) != VERSION:
            raise ValueError(f"version {lines[0]!r}, not {VERSION}")
        count = int(lines[1])
        out = {}
        for line in lines[2 : 2 + count]:
            topic, partition, offset = line.rsplit(" ", 2)
            out[(topic, int(partition))] = int(offset)
    except IndexError:
        raise ValueError("fewer lines than its count says") from None
    if len(out) != count:
        raise ValueError("fewer entries than its count says")
    return out


def read_offset_checkpoint(path: Path) -> dict[tuple[str, int], int]:
    """The offsets in ``path``; {} when it is missing or damaged (it is only a checkpoint)."""
    try:
        return parse_offset_checkpoint(path.read_bytes().decode("ascii"))
    except (FileNotFoundError, UnicodeDecodeError, ValueError):
        return {}


def write_offset_checkpoint(path: Path, offsets: dict[tuple[str, int], int]) -> None:
    lines = [f"{t} {p} {o}\n" for (t, p), o in sorted(offsets.items())]
    atomic_write(path, f"{VERSION}\n{len(lines)}\n{''.join(lines)}".encode())
