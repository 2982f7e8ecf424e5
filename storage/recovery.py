"""Recovery and verification of a partition's log, as Kafka's LogLoader does it: re-read
every segment checking CRCs, truncate a torn tail of the last segment, rebuild missing or
damaged indexes and remove files a crash left (``recover``); or only verify (``check``).
``Log`` owns one ``LogRecovery`` and runs it under the partition lock.
"""

from __future__ import annotations

import os

from storage.constants import DELETED_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX
from storage.errors import CorruptRecord
from storage.log_segments import LogSegments
from storage.producer_state import ProducerState
from storage.segment import TornTail
from storage.segment_swap import recover_swaps


class LogRecovery:
    """Verifies and repairs one partition's segments."""

    def __init__(self, segments: LogSegments, producer_state: ProducerState):
        self._segs = segments
        self._producer_state = producer_state

    def recover(
        self, index_interval_bytes: int, *, allow_gaps: bool = False
    ) -> tuple[int, list[int], list[str]]:
        """Under the lock: verify every segment, truncate a torn tail, rebuild missing or
        damaged indexes.  Returns (bytes truncated, base offsets of rebuilt indexes, names of
        files removed).

        A CRC mismatch anywhere but in an incomplete last batch raises CorruptRecord naming
        the file and byte position: it is never truncated away.  With ``allow_gaps`` (a
        compacted log) a segment may end before the next one starts, never after.
        """
        segs = self._segs
        segs.load()
        removed = self.cleanup_leftovers(index_interval_bytes)
        rebuilt = []
        truncated = 0
        next_offset = 0
        for i, seg in enumerate(segs.segments):
            fd = segs.read_fd(seg)
            size = seg.size()
            last = i == len(segs.segments) - 1
            sane = seg.index_problem(fd, size) is None
            # Validate every batch; a torn tail is only allowed in the last segment.
            valid_size = 0
            next_offset = seg.base_offset
            for item in seg.iter_batches(fd, 0, check_crc=True, judge_tail=last):
                if isinstance(item, TornTail):
                    if not last:
                        raise CorruptRecord(
                            f"{seg.log_path}: incomplete batch at byte position "
                            f"{item.position} in a closed segment"
                        )
                    break
                valid_size = item.position + item.header.size
                next_offset = item.header.next_offset
            if valid_size < size:
                with open(seg.log_path, "r+b") as f:
                    f.truncate(valid_size)
                    os.fsync(f.fileno())
                truncated += size - valid_size
            if not sane or valid_size < size:
                seg.rebuild_indexes(fd, index_interval_bytes, closed=not last)
                rebuilt.append(seg.base_offset)
            following = None if last else segs.segments[i + 1].base_offset
            gap = allow_gaps and following is not None and next_offset < following
            if following is not None and next_offset != following and not gap:
                raise CorruptRecord(
                    f"{seg.log_path}: ends at offset {next_offset} but the next segment "
                    f"starts at {segs.segments[i + 1].base_offset}"
                )
        # Snapshots beyond the log end describe batches that are not there.
        state = self._producer_state
        stale = [o for o in state.snapshot_offsets() if o > next_offset]
        state.delete_snapshots(stale)
        removed.extend(state.snapshot_path(o).name for o in stale)
        state.unload()
        segs.rescan()
        return truncated, rebuilt, removed

    def check(self) -> None:
        """Read-only verification of every batch's CRC and every index; raises on damage."""
        segs = self._segs
        segs.load()
        for i, seg in enumerate(segs.segments):
            fd = segs.read_fd(seg)
            last = i == len(segs.segments) - 1
            for item in seg.iter_batches(fd, 0, check_crc=True):
                if isinstance(item, TornTail) and not last:
                    raise CorruptRecord(
                        f"{seg.log_path}: incomplete batch at byte position {item.position}"
                    )
            if seg.index_problem(fd, seg.size()) is not None:
                raise CorruptRecord(f"{seg.offset_index.path}: index does not match the log")

    # -- repairs a writer makes once, under the lock (see Log._sync_for_write) --------------

    def cleanup_leftovers(self, index_interval_bytes: int) -> list[str]:
        """Files a crash can leave: a cleaner's half-done swap (finished or undone, see
        ``storage.segment_swap``), indexes whose .log is gone, temp files, .deleted files.

        Returns the names of the files removed."""
        directory = self._segs.directory
        removed = recover_swaps(directory, index_interval_bytes)
        if removed:
            self._segs.load()
        bases = set(self._segs.bases)
        for name in sorted(os.listdir(directory)):
            stem, _, suffix = name.partition(".")
            if name.endswith((".tmp", DELETED_SUFFIX)) or (
                "." + suffix in (INDEX_SUFFIX, TIME_INDEX_SUFFIX)
                and stem.isdigit()
                and int(stem) not in bases
            ):
                (directory / name).unlink(missing_ok=True)
                removed.append(name)
        return removed

    def repair_active_index(self, index_interval_bytes: int) -> bool:
        """Rebuild the active segment's indexes if their tail is wrong, else add the entries a
        killed writer did not get to write.  True when it rebuilt (the scan must restart)."""
        segs = self._segs
        active = segs.active
        fd = segs.read_fd(active)
        if active.index_tail_problem(fd, active.size()) is not None:
            active.rebuild_indexes(fd, index_interval_bytes)
            return True
        active.index_from(fd, index_interval_bytes)
        return False
