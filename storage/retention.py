"""Retention of a partition's log: deleting whole closed segments past retention.ms or
beyond retention.bytes (or below a DeleteRecords offset), oldest first, which moves
``log_start_offset`` forward.  ``Log`` owns one ``LogRetention`` and runs it under the
partition lock.
"""

from __future__ import annotations

from collections.abc import Callable

from storage.clock import Clock
from storage.fileio import fsync_dir
from storage.log_checkpoints import LogCheckpoints
from storage.log_segments import LogSegments
from storage.log_types import DeletedSegment
from storage.producer_state import ProducerState
from storage.segment import Segment

# Why a closed segment goes: (segment, next segment's base offset, its size, the log's size)
# -> a reason, or None to keep it (and every segment after it).
DeletionReason = Callable[[Segment, int, int, int], "str | None"]


class LogRetention:
    """Deletes a partition's expired segments (call its methods under the lock)."""

    def __init__(
        self,
        segments: LogSegments,
        producer_state: ProducerState,
        checkpoints: LogCheckpoints,
        clock: Clock,
    ):
        self._segs = segments
        self._producer_state = producer_state
        self._checkpoints = checkpoints
        self._clock = clock

    def delete_expired(self, retention_ms: int, retention_bytes: int) -> list[DeletedSegment]:
        """Delete closed segments past ``retention_ms`` or beyond ``retention_bytes``.

        Whole segments only, oldest first, never the active one.  A segment is past
        retention.ms when its largest record timestamp is older than retention.ms.
        """
        segs = self._segs
        now = self._clock.now_ms()

        def reason(seg: Segment, next_offset: int, size: int, total: int) -> str | None:
            if retention_ms >= 0:
                largest = segs.largest_timestamp(seg, False)
                if largest >= 0 and now - largest > retention_ms:
                    return "retention.ms"
            if retention_bytes >= 0 and total - size >= retention_bytes:
                return "retention.bytes"
            return None

        return self._delete_closed(reason)

    def delete_before(self, offset: int) -> list[DeletedSegment]:
        """Delete the closed segments whose records all lie below ``offset`` (Kafka's
        DeleteRecords, at segment granularity)."""
        return self._delete_closed(
            lambda seg, next_offset, size, total: "DeleteRecords" if next_offset <= offset else None
        )

    def _delete_closed(self, why: DeletionReason) -> list[DeletedSegment]:
        segs = self._segs
        deleted: list[DeletedSegment] = []
        closed = segs.segments[:-1]
        total = sum(s.size() for s in segs.segments)
        doomed = []
        for i, seg in enumerate(closed):
            size = seg.size()
            next_offset = segs.segments[i + 1].base_offset
            reason = why(seg, next_offset, size, total)
            if reason is None:
                break
            total -= size
            doomed.append(
                (
                    seg,
                    DeletedSegment(seg.base_offset, segs.segments[i + 1].base_offset, size, reason),
                )
            )
        if not doomed:
            return deleted
        # The new log start is durable before any segment goes, so a segment missing below
        # it is retention's doing and one missing above it is damage (see OffsetVerifier).
        self._checkpoints.log_start.write(doomed[-1][1].next_offset)
        for seg, info in doomed:
            seg.delete()
            segs.deleted(seg)
            deleted.append(info)
        fsync_dir(segs.directory)
        segs.load()
        start = segs.log_start_offset
        state = self._producer_state
        state.delete_snapshots(o for o in state.snapshot_offsets() if o < start)
        return deleted
