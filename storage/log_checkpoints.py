"""A partition's durable checkpoints: its recovery point and log start offset, each a file
in the format of Kafka's ``OffsetCheckpointFile``, written atomically (temp file, fsync,
rename) as Kafka writes them.  On open they bound what the segments must hold: offsets never
go backwards against a checkpoint, so a deleted segment is found rather than skipped."""

from __future__ import annotations

from pathlib import Path

from storage.constants import LOG_START_CHECKPOINT, RECOVERY_POINT_CHECKPOINT
from storage.errors import StorageError
from storage.offset_checkpoint import (
    VERSION,
    parse_offset_checkpoint,
    write_offset_checkpoint,
)


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
        try:
            entries = parse_offset_checkpoint(text)
            ((_topic, partition), offset), = entries.items()
            if partition != self.partition or offset < 0:
                raise ValueError
            return offset
        except ValueError:
            raise StorageError(
                f"{self.path} is damaged: it should hold '{VERSION}', '1' and "
                f"'<topic> {self.partition} <offset>' on three lines (kcli check --repair "
                f"rewrites it)"
            ) from None

    def write(self, offset: int) -> None:
        write_offset_checkpoint(self.path, {(self.topic, self.partition): offset})


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
