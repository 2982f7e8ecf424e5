"""``cleaner-offset-checkpoint``: where each compacted partition's dirty section starts.

Kafka's file, in Kafka's format, one per data directory (Kafka: one per log directory)::

    0                       version
    2                       number of entries
    users 0 4096            topic partition first-dirty-offset
    users 1 1200

Everything below an entry's offset has been cleaned at least once; the cleaner maps keys from
there on.  The file is rewritten whole (temp file, fsync, rename) under its own lock, since the
cleaners of several partitions, in several processes, update it.  A lost update only makes the
next round re-clean segments that were clean already, which changes nothing: cleaning is
idempotent.
"""

from __future__ import annotations

from pathlib import Path

from storage.constants import CLEANER_CHECKPOINT_FILE
from storage.errors import CorruptRecord
from storage.fileio import atomic_write
from storage.flock import FileMutex

VERSION = 0
_LOCK_TIMEOUT_S = 30.0


class CleanerCheckpoint:
    """Read and update the first dirty offset of partitions in one data directory."""

    def __init__(self, data_dir: Path):
        self.path = Path(data_dir) / CLEANER_CHECKPOINT_FILE
        self._lock = FileMutex(Path(data_dir) / f".{CLEANER_CHECKPOINT_FILE}.lock")

    def read(self) -> dict[tuple[str, int], int]:
        """Every entry; {} when there is no file yet."""
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return {}
        return _parse(text, self.path)

    def get(self, topic: str, partition: int) -> int | None:
        return self.read().get((topic, partition))

    def update(self, topic: str, partition: int, offset: int) -> None:
        """Set one partition's first dirty offset."""
        self._rewrite(lambda entries: entries.__setitem__((topic, partition), offset) or True)

    def forget_topic(self, topic: str) -> None:
        """Remove every partition of a deleted topic."""

        def drop(entries) -> bool:
            gone = [k for k in entries if k[0] == topic]
            for k in gone:
                del entries[k]
            return bool(gone)

        if self.path.exists():
            self._rewrite(drop)

    def _rewrite(self, change) -> None:
        self._lock.acquire(_LOCK_TIMEOUT_S)
        try:
            entries = self.read()
            if change(entries):
                atomic_write(self.path, _format(entries).encode())
        finally:
            self._lock.release()

    def close(self) -> None:
        self._lock.close()


def _format(entries: dict[tuple[str, int], int]) -> str:
    lines = [str(VERSION), str(len(entries))]
    lines += [f"{t} {p} {o}" for (t, p), o in sorted(entries.items())]
    return "\n".join(lines) + "\n"


def _parse(text: str, path: Path) -> dict[tuple[str, int], int]:
    lines = text.splitlines()
    try:
        version = int(lines[0])
        count = int(lines[1])
        if version != VERSION or len(lines) - 2 != count:
            raise ValueError
        out = {}
        for line in lines[2:]:
            topic, partition, offset = line.split(" ")
            out[(topic, int(partition))] = int(offset)
        return out
    except (IndexError, ValueError):
        raise CorruptRecord(
            f"{path}: not a cleaner checkpoint (expected version {VERSION}, a count, then "
            f"'topic partition offset' lines); delete it and the cleaner starts over"
        ) from None
