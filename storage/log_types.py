"""The values a partition's ``Log`` returns (what an append assigned, a segment, a fetch,
a recovery, a retention deletion), and the signal its readers share when a segment file
vanishes under them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class AppendInfo:
    """What an append assigned: offsets ``base_offset`` to ``last_offset`` inclusive.

    ``duplicate`` is True when the batches were an idempotent producer's retry of batches
    already in the log: nothing was written and the offsets are those of the first copy.
    """

    base_offset: int
    last_offset: int
    log_append_time: int  # -1 unless the topic uses LogAppendTime
    log_start_offset: int
    duplicate: bool = False

    @property
    def count(self) -> int:
        return self.last_offset - self.base_offset + 1


@dataclass(frozen=True)
class SegmentInfo:
    """One segment as ``describe`` and ``log dump`` show it."""

    base_offset: int
    next_offset: int  # one past the last offset it holds
    size_bytes: int
    largest_timestamp: int
    active: bool
    path: Path


@dataclass(frozen=True)
class DeletedSegment:
    """A segment removed by retention, and why."""

    base_offset: int
    next_offset: int
    size_bytes: int
    reason: str  # "retention.ms" or "retention.bytes"


@dataclass(frozen=True)
class RecoveryReport:
    """What ``recover`` found and repaired."""

    log_end_offset: int
    truncated_bytes: int
    rebuilt_indexes: tuple[int, ...]  # base offsets of segments whose indexes were rebuilt
    removed_files: tuple[str, ...]


@dataclass(frozen=True)
class FetchResult:
    """Raw batches read from a log, as a Fetch response carries them."""

    records: bytes
    high_watermark: int
    log_start_offset: int


class _SegmentGone(Exception):
    """A segment file vanished under a reader (retention in another process)."""
