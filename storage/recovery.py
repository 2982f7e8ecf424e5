"""Recovery and verification of a partition's ``Log``, as Kafka's LogLoader does it: re-read
every segment checking CRCs, truncate a torn tail of the last segment, rebuild missing or
damaged indexes and remove files a crash left (``recover``); or only verify (``check``).
``LogRecovery`` is a mixin of ``storage.log.Log``.
"""

from __future__ import annotations

import os

from storage.cleaner_checkpoint import CleanerCheckpoint
from storage.constants import DELETED_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX
from storage.errors import CorruptRecord
from storage.log_types import RecoveryReport
from storage.segment import Segment, TornTail
from storage.segment_swap import recover_swaps


class LogRecovery:
    """The recovery part of ``Log`` (a mixin): recover and check."""

    def recover(self) -> RecoveryReport:
        """Verify every segment, truncate a torn tail, rebuild missing or damaged indexes.

        A CRC mismatch anywhere but in an incomplete last batch raises CorruptRecord naming
        the file and byte position: it is never truncated away.
        """
        with self._mutex:
            self._acquire()
            try:
                return self._recover_locked()
            finally:
                self._file_lock.release()

    def _recover_locked(self) -> RecoveryReport:
        self._load_segments()
        removed = self._cleanup_leftovers()
        rebuilt = []
        truncated = 0
        next_offset = 0
        for i, seg in enumerate(self._segments):
            fd = self._read_fd(seg)
            size = seg.size()
            last = i == len(self._segments) - 1
            sane = seg.index_is_sane(fd, size)
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
                seg.rebuild_indexes(fd, self.config.index_interval_bytes, closed=not last)
                rebuilt.append(seg.base_offset)
            following = None if last else self._segments[i + 1].base_offset
            if following is not None and next_offset != following:
                # The cleaner leaves gaps (next_offset < following), never overlaps.
                if next_offset > following or not self._may_have_gaps():
                    raise CorruptRecord(
                        f"{seg.log_path}: ends at offset {next_offset} but the next segment "
                        f"starts at {following}"
                    )
        # Snapshots beyond the log end describe batches that are not there.
        state = self._producer_state
        stale = [o for o in state.snapshot_offsets() if o > next_offset]
        state.delete_snapshots(stale)
        removed.extend(self._producer_state.snapshot_path(o).name for o in stale)
        state.unload()
        self._scanned_base = -1
        self._recovered = False
        self._sync_for_write()
        return RecoveryReport(
            log_end_offset=self._next_offset,
            truncated_bytes=truncated,
            rebuilt_indexes=tuple(rebuilt),
            removed_files=tuple(removed),
        )

    def check(self) -> None:
        """Read-only verification of every batch's CRC and every index; raises on damage."""
        with self._mutex:
            self._load_segments()
            for i, seg in enumerate(self._segments):
                fd = self._read_fd(seg)
                last = i == len(self._segments) - 1
                for item in seg.iter_batches(fd, 0, check_crc=True):
                    if isinstance(item, TornTail) and not last:
                        raise CorruptRecord(
                            f"{seg.log_path}: incomplete batch at byte position {item.position}"
                        )
                if not seg.index_is_sane(fd, seg.size()):
                    raise CorruptRecord(f"{seg.offset_index.path}: index does not match the log")

    def _may_have_gaps(self) -> bool:
        """Compacted now, or cleaned once (the checkpoint names it): offsets may have gaps."""
        if self.config.compacted:
            return True
        checkpoint = CleanerCheckpoint(self.directory.parent)
        try:
            return checkpoint.get(self.topic, self.partition) is not None
        finally:
            checkpoint.close()

    # -- repairs a writer makes once, under the lock (see Log._sync_for_write) --------------

    def _cleanup_leftovers(self) -> list[str]:
        """Files a crash can leave: indexes whose .log is gone, temp files, .deleted files.

        Returns the names of the files removed."""
        # A cleaner killed mid-swap: finish or discard it first (storage.segment_swap).
        removed = recover_swaps(self.directory, self.config.index_interval_bytes)
        if removed:
            self._load_segments()
        bases = set(self._bases)
        for name in sorted(os.listdir(self.directory)):
            stem, _, suffix = name.partition(".")
            if name.endswith((".tmp", DELETED_SUFFIX)) or (
                "." + suffix in (INDEX_SUFFIX, TIME_INDEX_SUFFIX)
                and stem.isdigit()
                and int(stem) not in bases
            ):
                (self.directory / name).unlink(missing_ok=True)
                removed.append(name)
        return removed

    def _repair_active_index(self) -> None:
        active = self._segments[-1]
        fd = self._read_fd(active)
        if not active.index_tail_is_sane(fd, active.size()):
            active.rebuild_indexes(fd, self.config.index_interval_bytes)
            self._scanned_base = -1
            self._scan_active(writer=True)
            return
        # Entries a killed writer did not get to write: add them now.
        self._index_from(active, fd)

    def _index_from(self, seg: Segment, fd: int) -> None:
        entry = seg.offset_index.last_entry()
        last_pos = entry[1] if entry else 0
        last_time = seg.time_index.last_entry()
        max_ts = last_time[0] if last_time else -1
        interval = self.config.index_interval_bytes
        offset_entries = []
        time_entries = []
        for item in seg.iter_batches(fd, last_pos):
            if isinstance(item, TornTail):
                break
            position, header = item
            max_ts = max(max_ts, header.max_timestamp)
            if position - last_pos > interval:
                offset_entries.append((header.last_offset, position))
                if last_time is None or max_ts > last_time[0]:
                    last_time = (max_ts, header.last_offset)
                    time_entries.append(last_time)
                last_pos = position
        seg.offset_index.append_entries(offset_entries)
        seg.time_index.append_entries(time_entries)
