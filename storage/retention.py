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
        the base offset of the first segment left.  Only with ``delete`` in cleanup.policy (as
        in Kafka, ``compact`` alone keeps records forever).  A segment is past retention.ms when its
        largest record timestamp is older than retention.ms.
        """
        with self._mutex:
            self._acquire()
            try:
                self._sync_for_write()
                return self._apply_retention_locked()
            finally:
                self._file_lock.release()

    def _apply_retention_locked(self) -> list[DeletedSegment]:
        deleted: list[DeletedSegment] = []
        if not self.config.deletes:
            return deleted  # cleanup.policy=compact alone: the cleaner's, not retention's
        now = self.clock.now_ms()
        retention_ms = self.config.retention_ms
        retention_bytes = self.config.retention_bytes
        closed = self._segments[:-1]
        total = sum(s.size() for s in self._segments)
        for i, seg in enumerate(closed):
            size = seg.size()
            reason = None
            if retention_ms >= 0:
                largest = self._largest_timestamp(seg, False)
                if largest >= 0 and now - largest > retention_ms:
                    reason = "retention.ms"
            if reason is None and retention_bytes >= 0 and total - size >= retention_bytes:
                reason = "retention.bytes"
            if reason is None:
                break
            next_offset = self._segments[i + 1].base_offset
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
