"""Log compaction: keep the latest record of every key, as Kafka's ``LogCleaner`` does.

A compacted partition has a *clean* section (every segment below the first dirty offset in
``cleaner-offset-checkpoint`` has been cleaned at least once), a *dirty* section (closed
segments appended since), and the active segment, which is never cleaned.  One round:

1. Map: read the dirty section's records, remembering each key's latest offset
   (``storage.offset_map``), whole segments only, as many as the map holds.
2. Clean: rewrite every closed segment from the log start to the end of the mapped part,
   keeping a record only if no later record of its key was mapped.  Records keep their
   offsets (the log now has gaps); batches keep their base offset, last offset delta, producer
   id, epoch and base sequence; a batch left empty is dropped, unless it is an idempotent
   producer's last batch (Kafka keeps its header so the producer's sequence survives).
3. Tombstones (a null value) are kept the first time they are cleaned and their batch is
   stamped with a delete horizon, now + ``delete.retention.ms`` (Kafka's KIP-534: the batch's
   baseTimestamp holds the horizon and attribute bit 6 says so; record timestamps are deltas
   from it, so they do not change).  A round after the horizon drops them: a consumer that
   started before then has had ``delete.retention.ms`` to see the delete.
4. Swap: each rewritten segment is swapped in atomically (``storage.segment_swap``), then the
   checkpoint moves to the end of the mapped part.

The partition lock is held only while a swap renames files, so producers keep appending to
the active segment during a clean.  One cleaner per partition: a second one finds the
partition's cleaner lock taken and leaves.  A kill at any moment leaves the old segment or the
new one in place, both complete; recovery finishes or discards a half-done swap.

Where kcli differs from Kafka: it cleans one segment into one (Kafka also merges small
neighbours); the cleaner runs in the process whose append rolled a segment, or on demand
(``kcli topic compact``), not in background threads.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING

from storage.cleaner_checkpoint import CleanerCheckpoint
from storage.compacted_batches import (
    DELETE_HORIZON_MASK,
)
from storage.constants import (
    BATCH_HEADER_SIZE,
    CLEANER_LOCK_FILE,
    COMPRESSION_MASK,
    CONTROL_MASK,
    MAGIC,
    TIMESTAMP_TYPE_MASK,
)
from storage.crc import crc32c
from storage.errors import StorageError
from storage.flock import FileMutex
from storage.offset_map import DEFAULT_BUFFER_BYTES, OffsetMap
from storage.record_batch import compress_batch
from storage.record_decode import batch_keys
from storage.records import HEADER, BatchHeader, Record, decode_batch_at
from storage.segment import BatchPosition, Segment
from storage.segment_swap import cleaned_segment, swap_in
from storage.varint import zigzag_varint

if TYPE_CHECKING:
    from storage.log import Log
    from storage.log_types import SegmentInfo


_KEY = itemgetter(2)
_OFFSET = itemgetter(0)
_AFTER_CRC = struct.Struct(">hiqqqhii")
_PREFIX = struct.Struct(">qiib")
_CRC = struct.Struct(">I")
_NULL = zigzag_varint(-1)


# -- what describe shows ------------------------------------------------------------------


@dataclass(frozen=True)
class CleanableSection:
    """A partition's clean and dirty sections, as Kafka's LogToClean measures them."""

    log_start_offset: int
    first_dirty_offset: int  # everything below has been cleaned at least once
    first_uncleanable_offset: int  # the active segment, or a segment younger than the lag
    clean_bytes: int
    dirty_bytes: int
    max_lag_due: bool  # a dirty record is older than max.compaction.lag.ms

    @property
    def dirty_ratio(self) -> float:
        """Dirty bytes over clean + dirty bytes: the cleaner starts past min.cleanable.dirty.ratio."""
        total = self.clean_bytes + self.dirty_bytes
        return self.dirty_bytes / total if total else 0.0


@dataclass(frozen=True)
class CleanedSegment:
    """What one rewritten segment lost."""

    base_offset: int
    next_offset: int
    records_before: int
    records_after: int
    size_before: int
    size_after: int
    tombstones_dropped: int


@dataclass(frozen=True)
class CleanResult:
    """One cleaning round of one partition."""

    topic: str
    partition: int
    first_dirty_offset: int  # before the round
    cleaned_up_to: int  # the new first dirty offset (the checkpoint)
    keys_mapped: int
    records_read: int
    records_removed: int
    segments: tuple[CleanedSegment, ...]
    skipped: str = ""  # why nothing was cleaned, if nothing was

    @property
    def bytes_removed(self) -> int:
        return sum(s.size_before - s.size_after for s in self.segments)


# -- the cleaner --------------------------------------------------------------------------


class LogCleaner:
    """Cleans compacted partitions of one data directory (Kafka's LogCleaner + Cleaner)."""

    def __init__(self, data_dir: Path, *, buffer_bytes: int = DEFAULT_BUFFER_BYTES):
        self.data_dir = Path(data_dir)
        self.checkpoint = CleanerCheckpoint(self.data_dir)
        self.buffer_bytes = buffer_bytes

    # -- sections -------------------------------------------------------------------------

    def section(self, log: Log, segments: list[SegmentInfo] | None = None) -> CleanableSection:
        """Where the partition's clean and dirty sections lie right now."""
        segments = segments if segments is not None else log.segments()
        config = log.config
        now = log.clock.now_ms()
        start = segments[0].base_offset if segments else 0
        checkpoint = self.checkpoint.get(log.topic, log.partition)
        end = segments[-1].next_offset if segments else 0
        # Kafka's rule: a checkpoint outside the log (retention passed it, or it is from a
        # deleted topic of the same name) means the log is dirty from its start.
        valid = checkpoint is not None and start <= checkpoint <= end
        first_dirty = checkpoint if valid else start
        uncleanable = segments[-1].base_offset if segments else 0
        for seg in segments[:-1]:
            if seg.largest_timestamp > now - config.min_compaction_lag_ms:
                uncleanable = min(uncleanable, seg.base_offset)
                break
        first_dirty = min(first_dirty, uncleanable)
        clean = dirty = 0
        max_lag_due = False
        for seg in segments[:-1]:
            if seg.next_offset <= first_dirty:
                clean += seg.size_bytes
            elif seg.next_offset <= uncleanable:
                dirty += seg.size_bytes
                if not max_lag_due and config.max_compaction_lag_ms < now:
                    first_ts = _first_timestamp(seg.path)
                    max_lag_due = 0 <= first_ts < now - config.max_compaction_lag_ms
        return CleanableSection(start, first_dirty, uncleanable, clean, dirty, max_lag_due)

    def maybe_clean(self, log: Log) -> CleanResult | None:
        """Clean if the dirty ratio passed min.cleanable.dirty.ratio (or max lag is due)."""
        if not log.config.compacted:
            return None
        section = self.section(log)
        if section.dirty_bytes == 0:
            return None
        if section.dirty_ratio < log.config.min_cleanable_dirty_ratio and not section.max_lag_due:
            return None
        return self.clean(log)

    def clean(self, log: Log, *, after_step=None) -> CleanResult:
        """One cleaning round now, whatever the dirty ratio (``kcli topic compact``).

        ``after_step`` (tests) is called between the steps of every swap.
        """
        if not log.config.compacted:
            raise StorageError(
                f"topic '{log.topic}' has cleanup.policy={log.config.cleanup_policy}; only a "
                f"compacted topic is cleaned: kcli topic alter {log.topic} --config "
                f"cleanup.policy=compact"
            )
        lock = FileMutex(log.directory / CLEANER_LOCK_FILE)
        try:
            if not lock.try_acquire():
                return self._skipped(log, "another process is cleaning this partition")
            try:
                return self._clean_locked(log, after_step)
            finally:
                lock.release()
        finally:
            lock.close()

    def _skipped(self, log: Log, why: str, first_dirty: int = -1) -> CleanResult:
        return CleanResult(log.topic, log.partition, first_dirty, first_dirty, 0, 0, 0, (), why)

    def _clean_locked(self, log: Log, after_step) -> CleanResult:
        segments = log.segments()
        section = self.section(log, segments)
        dirty = [
            s
            for s in segments[:-1]
            if s.base_offset >= section.first_dirty_offset
            and s.next_offset <= section.first_uncleanable_offset
        ]
        if len(segments) < 2:
            return self._skipped(
                log,
                "no closed segment yet (the active segment is never cleaned)",
                section.first_dirty_offset,
            )
        offset_map = OffsetMap.for_memory(self.buffer_bytes)
        # With nothing dirty, the clean section is still rewritten if tombstones expired.
        end, records_read = section.first_dirty_offset, 0
        if dirty:
            end, records_read = self._build_map(log, dirty, offset_map)
        keep_last = log.producer_last_offsets()
        now = log.clock.now_ms()
        cleaned: list[CleanedSegment] = []
        removed = 0
        for seg in segments[:-1]:
            if seg.base_offset >= end:
                break
            result = self._clean_segment(log, seg, offset_map, keep_last, now, after_step)
            if result is not None:
                cleaned.append(result)
                removed += result.records_before - result.records_after
        self.checkpoint.update(log.topic, log.partition, end)
        return CleanResult(
            log.topic,
            log.partition,
            section.first_dirty_offset,
            end,
            len(offset_map),
            records_read,
            removed,
            tuple(cleaned),
        )

    def _build_map(self, log: Log, dirty: list[SegmentInfo], offset_map: OffsetMap):
        """Map keys over whole dirty segments while they fit; (end offset, records read)."""
        end = dirty[0].base_offset
        read = 0
        for seg in dirty:
            seg_map = OffsetMap(1 << 62)
            count = 0
            for header, raw in _batches(seg.path):
                fast = batch_keys(raw, 0, len(raw))
                if fast is not None:
                    seg_map.put_all(*fast)
                else:
                    records = decode_batch_at(raw, 0, len(raw))
                    seg_map.put_all(map(_KEY, records), map(_OFFSET, records))
                count += header.records_count
            seg_map.discard(None)  # keyless records (written before the topic was compacted)
            known = offset_map.lookup()
            new_keys = sum(1 for k, _o in seg_map.items() if known(k) is None)
            if len(offset_map) and offset_map.would_overflow(new_keys):
                break  # the rest stays dirty for the next round, as in Kafka
            offset_map.put_all(
                map(itemgetter(0), seg_map.items()), map(itemgetter(1), seg_map.items())
            )
            read += count
            end = seg.next_offset
        return end, read

    def _clean_segment(
        self, log: Log, seg: SegmentInfo, offset_map: OffsetMap, keep_last, now, after_step
    ) -> CleanedSegment | None:
        """Rewrite one segment into ``.cleaned`` files and swap it in; None if unchanged."""
        lookup = offset_map.lookup()
        horizon_ms = now + log.config.delete_retention_ms
        out = cleaned_segment(log.directory, seg.base_offset)
        for path in (out.log_path, out.offset_index.path, out.time_index.path):
            path.unlink(missing_ok=True)
        changed = False
        before = after = dropped_tombstones = 0
        inode = os.stat(seg.path).st_ino
        fd = os.open(out.log_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        try:
            for header, raw in _batches(seg.path):
                before += header.records_count
                if header.attributes & CONTROL_MASK:
                    os.write(fd, raw)
                    continue
                has_horizon = bool(header.attributes & DELETE_HORIZON_MASK)
                tombstones_expired = has_horizon and now >= header.base_timestamp
                fast = batch_keys(raw, 0, len(raw))
                if fast is not None:
                    # A periodic batch (no nulls, so no tombstones): decide from the keys, and
                    # decode records only when some but not all of them stay.
                    keys, offsets = fast
                    latest = list(map(lookup, keys, repeat(-1)))
                    if min(latest) > offsets[-1]:
                        stay = []  # every key has a newer record (the common case): in C
                    else:
                        stay = [o for n, o in zip(latest, offsets, strict=True) if n <= o]
                    if len(stay) == len(keys):
                        after += len(stay)
                        os.write(fd, raw)
                        continue
                    records = decode_batch_at(raw, 0, len(raw)) if stay else []
                    if stay:
                        wanted = set(stay)
                        records = [r for r in records if r.offset in wanted]
                else:
                    records = decode_batch_at(raw, 0, len(raw))
                records_in = header.records_count
                kept = []
                for r in records:
                    if r.key is None or lookup(r.key, -1) > r.offset:
                        continue  # keyless (refused now, but older data may hold them) or stale
                    if r.value is None and tombstones_expired:
                        dropped_tombstones += 1
                        continue
                    kept.append(r)
                after += len(kept)
                tombstones = any(r.value is None for r in kept)
                if len(kept) == records_in and (has_horizon or not tombstones):
                    os.write(fd, raw)
                    continue
                changed = True
                if not kept and header.last_offset not in keep_last.get(header.producer_id, ()):
                    continue
                horizon = (
                    (
                        header.base_timestamp
                        if has_horizon and not tombstones_expired
                        else horizon_ms
                    )
                    if tombstones
                    else None
                )
                os.write(fd, rebuild_batch(header, kept, horizon))
            if not changed:
                return None
            os.fsync(fd)
        finally:
            os.close(fd)
            if not changed:
                out.log_path.unlink(missing_ok=True)
        rfd = os.open(out.log_path, os.O_RDONLY)
        try:
            out.rebuild_indexes(rfd, log.config.index_interval_bytes, closed=True)
        finally:
            os.close(rfd)
        size_after = out.size()
        if size_after == 0 and seg.base_offset != log.log_start_offset:
            # Nothing left: remove the segment rather than keep an empty file (Kafka merges
            # it into a neighbour).  The first segment stays: its name is log_start_offset.
            action = Segment(log.directory, seg.base_offset).delete
        else:
            action = lambda: swap_in(log.directory, seg.base_offset, after_step=after_step)  # noqa: E731
        swapped = log.swap_segment(seg.base_offset, inode, action)
        if size_after == 0:
            for path in (out.log_path, out.offset_index.path, out.time_index.path):
                path.unlink(missing_ok=True)
        if not swapped:
            for path in (out.log_path, out.offset_index.path, out.time_index.path):
                path.unlink(missing_ok=True)
            return None
        return CleanedSegment(
            seg.base_offset,
            seg.next_offset,
            before,
            after,
            seg.size_bytes,
            size_after,
            dropped_tombstones,
        )


# -- reading and writing batches ------------------------------------------------------------


def _batches(path: Path):
    """(header, bytes) of every batch of a closed segment, CRC-checked."""
    seg = Segment(path.parent, int(path.name.split(".")[0]))
    fd = os.open(path, os.O_RDONLY)
    try:
        for item in seg.iter_batches(fd, 0, check_crc=True):
            if not isinstance(item, BatchPosition):
                raise StorageError(f"{path}: a closed segment ends in an incomplete batch")
            yield item.header, os.pread(fd, item.header.size, item.position)
    finally:
        os.close(fd)


def _first_timestamp(path: Path) -> int:
    """The first batch's max timestamp (what Kafka judges max.compaction.lag.ms by)."""
    try:
        with open(path, "rb") as f:
            data = f.read(BATCH_HEADER_SIZE)
    except FileNotFoundError:
        return -1
    if len(data) < BATCH_HEADER_SIZE or data[16] != MAGIC:
        return -1
    return BatchHeader._make(HEADER.unpack_from(data)).max_timestamp


def rebuild_batch(header: BatchHeader, records: list[Record], horizon: int | None) -> bytes:
    """A batch holding ``records`` at their own offsets, with the header's identity kept.

    Kept as they were: baseOffset, lastOffsetDelta, partitionLeaderEpoch, producer id, epoch
    and base sequence, the timestamp type, the transactional flag and the compression codec
    (the records are compressed again with it, as Kafka's cleaner does).  With ``horizon`` the
    batch carries Kafka's delete horizon in baseTimestamp (attribute bit 6).
    """
    log_append = bool(header.attributes & TIMESTAMP_TYPE_MASK)
    attributes = header.attributes & ~(COMPRESSION_MASK | DELETE_HORIZON_MASK)
    if horizon is not None:
        attributes |= DELETE_HORIZON_MASK
        base_ts = horizon
    elif records:
        base_ts = records[0].timestamp
    else:
        base_ts = header.base_timestamp
    if log_append or not records:
        max_ts = header.max_timestamp
    else:
        max_ts = max(r.timestamp for r in records)
    parts = []
    for offset, ts, key, value, headers in records:
        body = [
            b"\x00",
            zigzag_varint(ts - base_ts) if not log_append else b"\x00",
            zigzag_varint(offset - header.base_offset),
            _NULL if key is None else zigzag_varint(len(key)) + key,
            _NULL if value is None else zigzag_varint(len(value)) + value,
            zigzag_varint(len(headers)),
        ]
        for hkey, hvalue in headers:
            hk = hkey.encode("utf-8")
            body.append(zigzag_varint(len(hk)) + hk)
            body.append(_NULL if hvalue is None else zigzag_varint(len(hvalue)) + hvalue)
        record = b"".join(body)
        parts.append(zigzag_varint(len(record)))
        parts.append(record)
    payload = _AFTER_CRC.pack(
        attributes,
        header.last_offset_delta,
        base_ts,
        max_ts,
        header.producer_id,
        header.producer_epoch,
        header.base_sequence,
        len(records),
    ) + b"".join(parts)
    prefix = _PREFIX.pack(
        header.base_offset, len(payload) + 9, header.partition_leader_epoch, MAGIC
    )
    batch = prefix + _CRC.pack(crc32c(payload)) + payload
    codec = header.attributes & COMPRESSION_MASK
    return compress_batch(batch, codec) if records else batch
