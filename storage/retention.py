"""Retention of a partition's ``Log``: deleting whole closed segments past retention.ms or
beyond retention.bytes, oldest first, under the partition lock, which moves
``log_start_offset`` forward.  ``LogRetention`` is a mixin of ``storage.log.Log``.
"""

from __future__ import annotations

import os

from storage.fileio import fsync_dir
from storage.log_types import DeletedSegment


class LogRetention:
    """The retention part of ``Log`` (a mixin): apply_retention."""

    def apply_retention(self) -> list[DeletedSegment]:
        """Delete closed segments past retention.ms or beyond retention.bytes.

        Whole segments only, oldest first, never the active one; ``log_start_offset`` moves to
        the base offset of the first segment left.  A segment is past retention.ms when its
        largest record timestamp is older than retention.ms.
        """
        with self._mutex:
            self._acquire()
            try:
                self._sync_for_write()
                return self._apply_retention_locked()
            finally:
                self._file_lock.release()

    def delete_segments_before(self, offset: int) -> list[DeletedSegment]:
        """Delete the closed segments whose records all lie below ``offset`` (Kafka's
        DeleteRecords, at segment granularity: ``log_start_offset`` moves to the base offset
        of the first segment left, which may be below ``offset``)."""
        with self._mutex:
            self._acquire()
            try:
                self._sync_for_write()
                return self._delete_closed(
                    lambda seg, next_offset, size, total: (
                        "DeleteRecords" if next_offset <= offset else None
                    )
                )
            finally:
                self._file_lock.release()

    def _apply_retention_locked(self) -> list[DeletedSegment]:
        now = self.clock.now_ms()
        retention_ms = self.config.retention_ms
        retention_bytes = self.config.retention_bytes

        def reason(seg, next_offset: int, size: int, total: int) -> str | None:
            if retention_ms >= 0:
                largest = self._largest_timestamp(seg, False)
                if largest >= 0 and now - largest > retention_ms:
                    return "retention.ms"
            if retention_bytes >= 0 and total - size >= retention_bytes:
                return "retention.bytes"
            return None

        return self._delete_closed(reason)

    def _delete_closed(self, why) -> list[DeletedSegment]:
        """Delete closed segments, oldest first, while ``why(segment, next_offset, size,
        total)`` names a reason."""
        deleted: list[DeletedSegment] = []
        closed = self._segments[:-1]
        total = sum(s.size() for s in self._segments)
        for i, seg in enumerate(closed):
            size = seg.size()
            next_offset = self._segments[i + 1].base_offset
            reason = why(seg, next_offset, size, total)
            if reason is None:
                break
            seg.delete()
            fd = self._read_fds.pop(seg.base_offset, None)
            if fd is not None:
                os.close(fd)
            self._closed_largest_ts.pop(seg.base_offset, None)
            total -= size
            deleted.append(DeletedSegment(seg.base_offset, next_offset, size, reason))
        if deleted:
            fsync_dir(self.directory)
            self._load_segments()
            start = self._bases[0]
            state = self._producer_state
            state.delete_snapshots(o for o in state.snapshot_offsets() if o < start)
        return deleted
