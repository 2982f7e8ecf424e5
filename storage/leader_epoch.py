"""A partition's leader epoch cache (Kafka's ``LeaderEpochFileCache``, in its storage package): which leader epoch
began at which offset, checkpointed to ``leader-epoch-checkpoint`` in the partition directory.

Every batch carries the epoch of the leader that appended it (partitionLeaderEpoch), so the
cache can always be rebuilt from the log; the checkpoint file (Kafka's format: a version line,
a count line, then ``epoch startOffset`` lines) only saves the scan and lets a learner see it.
"""

from __future__ import annotations

import bisect
import struct
from pathlib import Path

from storage.constants import BATCH_HEADER_SIZE, LAST_OFFSET_DELTA_POS, LENGTH_POS, LOG_OVERHEAD
from storage.fileio import atomic_write

CHECKPOINT_FILE = "leader-epoch-checkpoint"
UNDEFINED_EPOCH = -1
UNDEFINED_OFFSET = -1
_INT32 = struct.Struct(">i")
_INT64 = struct.Struct(">q")
PARTITION_LEADER_EPOCH_POS = 12


def batch_epochs(data: bytes | bytearray | memoryview):
    """(base offset, partition leader epoch) of each batch in concatenated batches."""
    pos = 0
    end = len(data)
    while pos + BATCH_HEADER_SIZE <= end:
        base = _INT64.unpack_from(data, pos)[0]
        length = _INT32.unpack_from(data, pos + LENGTH_POS)[0]
        epoch = _INT32.unpack_from(data, pos + PARTITION_LEADER_EPOCH_POS)[0]
        yield base, epoch
        pos += length + LOG_OVERHEAD


def stamp_leader_epoch(data: bytearray, epoch: int) -> None:
    """Set partitionLeaderEpoch of every batch (the CRC does not cover it)."""
    pos = 0
    end = len(data)
    while pos + BATCH_HEADER_SIZE <= end:
        length = _INT32.unpack_from(data, pos + LENGTH_POS)[0]
        _INT32.pack_into(data, pos + PARTITION_LEADER_EPOCH_POS, epoch)
        pos += length + LOG_OVERHEAD


class LeaderEpochCache:
    """(epoch, start offset) entries, epochs and offsets both increasing."""

    def __init__(self, directory: Path, entries: list[tuple[int, int]] | None = None):
        self.path = directory / CHECKPOINT_FILE
        self.entries: list[tuple[int, int]] = entries or []

    @classmethod
    def load(cls, directory: Path, log) -> LeaderEpochCache:
        """From the checkpoint when there is one (cut at the log end), else from the log."""
        cache = cls(directory)
        end = log.log_end_offset
        try:
            lines = cache.path.read_text().split("\n")
            count = int(lines[1])
            entries = [tuple(map(int, line.split())) for line in lines[2 : 2 + count]]
            if len(entries) == count:
                cache.entries = [(e, o) for e, o in entries if o < end]
                return cache
        except (FileNotFoundError, ValueError, IndexError):
            pass
        offset = log.log_start_offset
        while offset < end:
            data = log.read(offset, 1 << 20).records
            if not data:
                break
            last = offset
            for base, epoch in batch_epochs(data):
                cache._note(epoch, base)
                last = base
            # The next read starts after the last whole batch read.
            offset = max(last + 1, _next_offset(data))
        cache.write()
        return cache

    @property
    def latest_epoch(self) -> int:
        return self.entries[-1][0] if self.entries else UNDEFINED_EPOCH

    def _note(self, epoch: int, start_offset: int) -> bool:
        if epoch < 0 or (self.entries and epoch <= self.entries[-1][0]):
            return False
        self.entries.append((epoch, start_offset))
        return True

    def assign(self, epoch: int, start_offset: int) -> None:
        """Record that ``epoch`` starts at ``start_offset`` (a new leader, or its first batch)."""
        if self._note(epoch, start_offset):
            self.write()

    def truncate_from_end(self, end_offset: int) -> None:
        """Forget epochs starting at or after ``end_offset`` (the log was cut there)."""
        kept = [(e, o) for e, o in self.entries if o < end_offset]
        if kept != self.entries:
            self.entries = kept
            self.write()

    def end_offset_for(self, epoch: int, log_end_offset: int) -> tuple[int, int]:
        """(epoch, end offset) for OffsetForLeaderEpoch, as Kafka's endOffsetFor answers: the
        largest epoch at most ``epoch`` and the start offset of the epoch after it."""
        if not self.entries or epoch < 0:
            return UNDEFINED_EPOCH, UNDEFINED_OFFSET
        if epoch == self.entries[-1][0]:
            return epoch, log_end_offset
        epochs = [e for e, _ in self.entries]
        higher = bisect.bisect_right(epochs, epoch)
        if higher == len(epochs):
            return UNDEFINED_EPOCH, UNDEFINED_OFFSET
        if higher == 0:
            return epoch, self.entries[0][1]
        return epochs[higher - 1], self.entries[higher][1]

    def write(self) -> None:
        text = f"0\n{len(self.entries)}\n" + "".join(f"{e} {o}\n" for e, o in self.entries)
        atomic_write(self.path, text.encode())


def _next_offset(data: bytes) -> int:
    """The offset after the last whole batch of ``data``."""
    pos = 0
    end = len(data)
    nxt = 0
    while pos + BATCH_HEADER_SIZE <= end:
        base = _INT64.unpack_from(data, pos)[0]
        length = _INT32.unpack_from(data, pos + LENGTH_POS)[0]
        last_delta = _INT32.unpack_from(data, pos + LAST_OFFSET_DELTA_POS)[0]
        nxt = base + last_delta + 1
        pos += length + LOG_OVERHEAD
    return nxt
