"""A partition's durable checkpoints: its recovery point and log start offset, each a file
in the format of Kafka's ``OffsetCheckpointFile``, written atomically (temp file, fsync,
rename) as Kafka writes them.  On open they bound what the segments must hold: offsets never
go backwards against a checkpoint, so a deleted segment is found rather than skipped."""

from __future__ import annotations

from pathlib import Path

from storage.constants import LOG_START_CHECKPOINT, RECOVERY_POINT_CHECKPOINT
from storage.errors import StorageError
from storage.fileio import atomic_write

_VERSION = 0


class OffsetCheckpoint:
    """One checkpoint file holding one partition's offset."""

    def __init__(self, path: Path, topic: str, partition: int):
        self.path = path
        self.topic = topic
        self.partition = partition

    def read(self) -> int | None:
        """The offset, or None when the file does not exist (a store from before it)."""
        try:
            text = self.path.read_bytes().decode("ascii")
        except FileNotFoundError:
            return None
        except UnicodeDecodeError:
            text = ""
        lines = text.split("\n")
        try:
            if int(lines[0]) != _VERSION or int(lines[1]) != 1:
                raise ValueError
            _topic, partition, offset = lines[2].rsplit(" ", 2)
            if int(partition) != self.partition or int(offset) < 0:
                raise ValueError
            return int(offset)
        except (ValueError, IndexError):
            raise StorageError(
                f"{self.path} is damaged: it should hold '{_VERSION}', '1' and "
                f"'<topic> {self.partition} <offset>' on three lines (kcli check --repair "
                f"rewrites it)"
            ) from None

    def write(self, offset: int) -> None:
        atomic_write(self.path, f"{_VERSION}\n1\n{self.topic} {self.partition} {offset}\n".encode())


class LogCheckpoints:
    """The recovery point and the log start offset of one partition directory."""

    def __init__(self, directory: Path, topic: str, partition: int):
        self.recovery_point = OffsetCheckpoint(
            directory / RECOVERY_POINT_CHECKPOINT, topic, partition
        )
        self.log_start = OffsetCheckpoint(directory / LOG_START_CHECKPOINT, topic, partition)

    def write_both(self, offset: int) -> None:
        self.recovery_point.write(offset)
        self.log_start.write(offset)
