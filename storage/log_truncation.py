"""Truncating a partition's log back to an offset, as a Kafka follower does when its tail has
diverged from the leader's (``UnifiedLog.truncateTo``, KIP-101).

Everything from the batch holding ``offset`` on is removed: later segments are deleted, the
segment holding the offset is cut at that batch's position, index entries past the cut are
dropped, and producer-state snapshots past the new end are deleted so that the producer state
is rebuilt from what remains.  A batch is never split: if ``offset`` falls inside one, the
whole batch goes and the log ends before it.  ``LogTruncation`` is a mixin of
``storage.log.Log``.
"""

from __future__ import annotations

import os

from storage.fileio import fsync_dir
from storage.segment import Segment


class LogTruncation:
    """The truncation part of ``Log`` (a mixin): truncate_to."""

    def truncate_to(self, offset: int) -> int:
        """Remove every batch at or after ``offset``; return the new log end offset.

        A no-op when the log ends at or before ``offset``.  Below the log start offset the
        log is emptied and starts again at ``offset`` (Kafka's truncateFullyAndStartAt).
        """
        with self._mutex:
            self._acquire()
            try:
                self._sync_for_write()
                if offset >= self._next_offset:
                    return self._next_offset
                self._close_write_fd()
                kept = [s for s in self._segments if s.base_offset < offset]
                for seg in self._segments[len(kept) :]:
                    fd = self._read_fds.pop(seg.base_offset, None)
                    if fd is not None:
                        os.close(fd)
                    seg.delete()
                    self._closed_largest_ts.pop(seg.base_offset, None)
                if not kept:
                    Segment(self.directory, max(offset, 0)).create()
                else:
                    self._cut(kept[-1], offset)
                fsync_dir(self.directory)
                state = self._producer_state
                state.delete_snapshots(o for o in state.snapshot_offsets() if o > offset)
                state.unload()
                # Forget the scan position: the active segment is rescanned from its start.
                self._scanned_base = -1
                self._active_first_ts = (-1, -1)
                self._load_segments()
                self._closed_largest_ts.pop(self._segments[-1].base_offset, None)
                self._scan_active(writer=True)
                return self._next_offset
            finally:
                self._file_lock.release()

    def _cut(self, seg: Segment, offset: int) -> None:
        """Cut ``seg`` before the batch holding ``offset`` and drop its later index entries."""
        fd = self._read_fd(seg)
        found = seg.find_batch(fd, offset)
        if found is None:
            return
        position = found.position
        with open(seg.log_path, "r+b") as f:
            f.truncate(position)
            os.fsync(f.fileno())
        end = found.header.base_offset
        offsets = seg.offset_index.entries()
        keep = sum(1 for _o, p in offsets if p < position)
        if keep < len(offsets):
            seg.offset_index.truncate_entries(keep)
        times = seg.time_index.entries()
        keep_times = [(t, o) for t, o in times if o < end]
        if len(keep_times) < len(times):
            seg.time_index.write_all(keep_times)
