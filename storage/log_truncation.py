"""Truncating a partition's log back to an offset, as a Kafka follower does when its tail has
diverged from the leader's (``UnifiedLog.truncateTo``, KIP-101).

Everything from the batch holding ``offset`` on is removed: later segments are deleted, the
segment holding the offset is cut at that batch's position, index entries past the cut are
dropped, and producer-state snapshots past the new end are deleted so that the producer state
is rebuilt from what remains.  A batch is never split: if ``offset`` falls inside one, the
whole batch goes and the log ends before it.  ``Log`` owns one ``LogTruncation`` and runs it
under the partition lock.
"""

from __future__ import annotations

import os

from storage.fileio import fsync_dir
from storage.log_checkpoints import LogCheckpoints
from storage.log_segments import LogSegments
from storage.producer_state import ProducerState
from storage.segment import Segment


class LogTruncation:
    """Cuts a partition's log back to an offset (call ``truncate_to`` under the lock, with
    the writer's descriptor closed)."""

    def __init__(
        self, segments: LogSegments, producer_state: ProducerState, checkpoints: LogCheckpoints
    ):
        self._segs = segments
        self._producer_state = producer_state
        self._checkpoints = checkpoints

    def truncate_to(self, offset: int) -> None:
        """Remove every batch at or after ``offset`` (the caller checked that the log ends
        after it).  Below the log start offset the log is emptied and starts again at
        ``offset`` (Kafka's truncateFullyAndStartAt)."""
        segs = self._segs
        kept = [s for s in segs.segments if s.base_offset < offset]
        # The checkpoints move back first, so that segments missing after a crash in the
        # middle are this truncation's doing, not damage (see OffsetVerifier).
        if kept:
            self._checkpoints.recovery_point.write(kept[-1].base_offset)
        else:
            self._checkpoints.write_both(max(offset, 0))
        for seg in segs.segments[len(kept) :]:
            segs.deleted(seg)
            seg.delete()
        if not kept:
            Segment(segs.directory, max(offset, 0)).create()
        else:
            self._cut(kept[-1], offset)
        fsync_dir(segs.directory)
        state = self._producer_state
        state.delete_snapshots(o for o in state.snapshot_offsets() if o > offset)
        state.unload()
        # Forget the scan position: the active segment is rescanned from its start.
        segs.load()
        segs.rescan()

    def _cut(self, seg: Segment, offset: int) -> None:
        """Cut ``seg`` before the batch holding ``offset`` and drop its later index entries."""
        found = seg.find_batch(self._segs.read_fd(seg), offset)
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
        # The cached largest timestamp of a closed segment no longer holds.
        self._segs.deleted(seg)
