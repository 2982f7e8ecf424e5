"""Bringing a partition's producer state (``storage.producer_state``) up to the log end
offset, as Kafka's rebuildProducerState does: from the newest usable snapshot, reading the
batch headers after it, and leaving a snapshot behind when that took long.  ``Log`` owns one
``LogProducerState`` and runs it under the partition lock: it catches up, then checks
idempotent batches for duplicates and sequence gaps.
"""

from __future__ import annotations

import bisect

from storage.errors import DuplicateSequence
from storage.log_segments import LogSegments
from storage.log_types import AppendInfo
from storage.producer_state import BatchMetadata, ProducerState, ProducerUpdate, last_sequence
from storage.segment import TornTail

# A producer-state catch-up that read more batch headers than this leaves a snapshot behind,
# so the next process starts from there.
SNAPSHOT_AFTER_BATCHES = 1000


class LogProducerState:
    """A partition's producer state kept valid up to its log end offset, and the check of
    idempotent batches against it."""

    def __init__(self, segments: LogSegments, state: ProducerState):
        self._segs = segments
        self._state = state

    def catch_up(self) -> None:
        """Under the lock: make the producer state valid up to the log end offset."""
        state = self._state
        target = self._segs.log_end_offset
        if state.end_offset == target:
            return
        start_offset = self._segs.log_start_offset
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
        scanned = self._scan_producer_batches(target)
        if scanned >= SNAPSHOT_AFTER_BATCHES:
            state.write_snapshot()
            self._prune_snapshots()

    def check(
        self,
        items: list,
        log_end_offset: int,
        log_append_time: int,
        name: str,
        *,
        as_follower: bool = False,
    ) -> list | AppendInfo:
        """Producer updates per batch (None for non-idempotent ones), or the AppendInfo of a
        retry whose batches are all in the log already.

        ``as_follower``: the batches are a leader's, at the offsets it gave them; their
        producer state is recorded as it is, without the duplicate and sequence checks the
        leader made (Kafka's appendAsFollower; a cleaned section may skip sequences)."""
        updates: list[ProducerUpdate | None] = [None] * len(items)
        if not any(h.producer_id >= 0 and h.base_sequence >= 0 for h, _ in items):
            return updates
        self.catch_up()
        check = self._state.begin()
        duplicates: list[BatchMetadata] = []
        offset = log_end_offset
        for i, (h, _data) in enumerate(items):
            if as_follower:
                offset = h.base_offset
            if h.producer_id >= 0 and h.base_sequence >= 0:
                duplicate = None if as_follower else check.check(
                    h.producer_id, h.producer_epoch, h.base_sequence, h.last_offset_delta
                )
                if duplicate is not None:
                    duplicates.append(duplicate)
                    continue
                update = ProducerUpdate(
                    h.producer_id,
                    h.producer_epoch,
                    BatchMetadata(
                        h.base_sequence,
                        last_sequence(h.base_sequence, h.last_offset_delta),
                        offset,
                        offset + h.last_offset_delta,
                        log_append_time if log_append_time >= 0 else h.max_timestamp,
                    ),
                )
                check.record(update)
                updates[i] = update
            offset += h.last_offset_delta + 1
        if not duplicates:
            return updates
        if len(duplicates) == len(items):
            return AppendInfo(
                base_offset=duplicates[0].first_offset,
                last_offset=duplicates[-1].last_offset,
                log_append_time=-1,
                log_start_offset=self._segs.log_start_offset,
                duplicate=True,
            )
        raise DuplicateSequence(
            f"{len(duplicates)} of the {len(items)} batches sent to {name} are already in "
            f"the log (an idempotent producer's retry mixed with new batches); nothing was "
            f"written: send the new batches on their own"
        )

    def _scan_producer_batches(self, target: int) -> int:
        """Feed the headers of the batches from ``state.end_offset`` to ``target``."""
        state = self._state
        segs = self._segs
        scanned = 0
        i = bisect.bisect_right(segs.bases, state.end_offset) - 1
        last = len(segs.segments) - 1
        while state.end_offset < target and 0 <= i <= last:
            seg = segs.segments[i]
            if scanned and seg.base_offset == state.end_offset:
                if not state.snapshot_path(seg.base_offset).exists():
                    state.write_snapshot()
            fd = segs.read_fd(seg)
            found = seg.find_batch(fd, state.end_offset)
            if found is not None:
                end = segs.end_position if i == last else None
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
                state.end_offset = segs.segments[i].base_offset
        state.end_offset = target
        return scanned

    def _prune_snapshots(self) -> None:
        """Keep the snapshots at segment boundaries and the newest other one."""
        bases = set(self._segs.bases)
        others = [o for o in self._state.snapshot_offsets() if o not in bases]
        self._state.delete_snapshots(others[:-1])
