"""Bringing a partition's producer state (``storage.producer_state``) up to the log end
offset, as Kafka's rebuildProducerState does: from the newest usable snapshot, reading the
batch headers after it, and leaving a snapshot behind when that took long.  Runs under the
partition lock before idempotent batches are checked.  ``LogProducerState`` is a mixin of
``storage.log.Log``.
"""

from __future__ import annotations

import bisect

from storage.producer_state import ProducerState
from storage.segment import TornTail

# A producer-state catch-up that read more batch headers than this leaves a snapshot behind,
# so the next process starts from there.
SNAPSHOT_AFTER_BATCHES = 1000


class LogProducerState:
    """The producer-state part of ``Log`` (a mixin): catching up with the log."""

    def _catch_up_producer_state(self) -> None:
        """Under the lock: make the producer state valid up to the log end offset."""
        state = self._producer_state
        target = self._next_offset
        if state.end_offset == target:
            return
        start_offset = self._bases[0]
        if state.end_offset > target or state.end_offset < start_offset:
            state.unload()
        for snapshot in reversed(state.snapshot_offsets()):
            if snapshot > target or snapshot < start_offset:
                continue
            if state.loaded and snapshot <= state.end_offset:
                break  # what we hold is newer than any snapshot
            if state.load_snapshot(snapshot):
                break
            state.delete_snapshots([snapshot])  # damaged: never trust it again
        if not state.loaded:
            state.reset(start_offset)
        scanned = self._scan_producer_batches(state, target)
        if scanned >= SNAPSHOT_AFTER_BATCHES:
            state.write_snapshot()
            self._prune_snapshots()

    def _scan_producer_batches(self, state: ProducerState, target: int) -> int:
        """Feed the headers of the batches from ``state.end_offset`` to ``target``."""
        scanned = 0
        i = bisect.bisect_right(self._bases, state.end_offset) - 1
        last = len(self._segments) - 1
        while state.end_offset < target and 0 <= i <= last:
            seg = self._segments[i]
            if scanned and seg.base_offset == state.end_offset:
                if not state.snapshot_path(seg.base_offset).exists():
                    state.write_snapshot()
            fd = self._read_fd(seg)
            found = seg.find_batch(fd, state.end_offset)
            if found is not None:
                end = self._scanned_pos if i == last else None
                for item in seg.iter_batches(fd, found.position, end):
                    if isinstance(item, TornTail):
                        break
                    h = item.header
                    if h.base_offset >= target:
                        break
                    state.apply_header(
                        h.producer_id,
                        h.producer_epoch,
                        h.base_sequence,
                        h.base_offset,
                        h.last_offset_delta,
                        h.max_timestamp,
                    )
                    state.end_offset = h.base_offset + h.last_offset_delta + 1
                    scanned += 1
            i += 1
            if i <= last:
                state.end_offset = self._segments[i].base_offset
        state.end_offset = target
        return scanned

    def _prune_snapshots(self) -> None:
        """Keep the snapshots at segment boundaries and the newest other one."""
        bases = set(self._bases)
        others = [o for o in self._producer_state.snapshot_offsets() if o not in bases]
        self._producer_state.delete_snapshots(others[:-1])
