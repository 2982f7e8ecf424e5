"""Recovery and verification of a partition's log, as Kafka's LogLoader does it: re-read
every segment checking CRCs, truncate a torn tail of the last segment, rebuild missing or
damaged indexes and remove files a crash left (``recover``); or only verify (``check``).
``Log`` owns one ``LogRecovery`` and runs it under the partition lock.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from storage.compacted_batches import validate_stored_batch
from storage.constants import (
    DELETED_SUFFIX,
    INDEX_SUFFIX,
    LOG_START_CHECKPOINT,
    LOG_SUFFIX,
    RECOVERY_POINT_CHECKPOINT,
    TIME_INDEX_SUFFIX,
)
from storage.errors import CorruptRecord, LogGap, StorageError
from storage.fileio import fsync_dir
from storage.log_checkpoints import LogCheckpoints
from storage.log_segments import LogSegments
from storage.log_types import _SegmentGone
from storage.producer_state import ProducerState
from storage.segment import Segment, TornTail, segment_filename
from storage.segment_swap import leftover_swap_files, recover_swaps


class LogRecovery:
    """Verifies and repairs one partition's segments."""

    def __init__(self, segments: LogSegments, producer_state: ProducerState):
        self._segs = segments
        self._producer_state = producer_state
        self._indexes_checked: set[int] = set()

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

    def examine(
        self,
        index_interval_bytes: int,
        verifier: OffsetVerifier,
        checkpoints: LogCheckpoints,
        *,
        allow_gaps: bool,
        repair: bool = False,
        truncate_after_corruption: bool = False,
    ) -> list[LogProblem]:
        """Verify everything in the partition directory; with ``repair``, fix what can be
        fixed without losing data (torn tail, indexes, leftovers, producer snapshots) and,
        with ``truncate_after_corruption`` too, truncate the log at the first corrupt batch
        or gap, saying which offsets that removed.  Returns every problem found."""
        segs = self._segs
        segs.load()
        problems = [
            LogProblem(name, "a file a crash left behind", "removed" if repair else "")
            for name in self.cleanup_leftovers(index_interval_bytes, dry_run=not repair)
        ]
        corrupt: tuple[int, int, str] | None = None  # segment index, byte position, why
        for i, seg in enumerate(segs.segments):
            last = i == len(segs.segments) - 1
            found = self._examine_segment(seg, last, repair)
            problems += found.problems
            if found.corrupt is not None and corrupt is None:
                corrupt = (i, found.valid_size, found.corrupt)
            if found.corrupt is None:
                fd = segs.read_fd(seg)
                problem = seg.index_problem(fd, seg.size(), found.next_offset)
                if problem is not None or found.truncated:
                    if repair:
                        seg.rebuild_indexes(fd, index_interval_bytes, closed=not last)
                    if problem is not None:
                        # Each message starts with the index file's name.
                        file = problem.split(" ", 1)[0].rstrip(":")
                        problems.append(LogProblem(file, problem, "rebuilt" if repair else ""))
        if corrupt is not None and repair and truncate_after_corruption:
            problems[-1:] = []  # re-stated below with what was removed
            problems.append(self._truncate_at(corrupt, index_interval_bytes))
        gaps = verifier.problems(allow_gaps=allow_gaps)
        if gaps and repair and truncate_after_corruption:
            problems += self._accept_gaps(checkpoints, index_interval_bytes, allow_gaps)
            checkpoints.log_start.write(segs.segments[0].base_offset)
            checkpoints.recovery_point.write(segs.segments[-1].base_offset)
            gaps = verifier.problems(allow_gaps=allow_gaps)
        problems += gaps
        problems += self._examine_snapshots(repair)
        if repair and segs.segments:
            checkpoints.recovery_point.write(segs.segments[-1].base_offset)
            checkpoints.log_start.write(segs.segments[0].base_offset)
        segs.rescan()
        return problems

    def _examine_segment(self, seg, last: bool, repair: bool) -> _SegmentExam:
        fd = self._segs.read_fd(seg)
        size = seg.size()
        exam = _SegmentExam(next_offset=seg.base_offset)
        try:
            for item in seg.iter_batches(fd, 0, check_crc=True, judge_tail=last):
                if isinstance(item, TornTail):
                    if not last:
                        exam.corrupt = (
                            f"incomplete batch at byte position {item.position} in a closed segment"
                        )
                        exam.problems.append(LogProblem(seg.log_path.name, exam.corrupt))
                        return exam
                    done = ""
                    if repair:
                        with open(seg.log_path, "r+b") as f:
                            f.truncate(item.position)
                            os.fsync(f.fileno())
                        exam.truncated = True
                        done = f"truncated to {item.position} bytes"
                    exam.problems.append(
                        LogProblem(
                            seg.log_path.name,
                            f"torn last batch: {item.size} bytes at byte position "
                            f"{item.position} (a write that never finished)",
                            done,
                        )
                    )
                    return exam
                batch = os.pread(fd, item.header.size, item.position)

                validate_stored_batch(batch, where=f"the batch at byte position {item.position}")
                exam.valid_size = item.position + item.header.size
                exam.next_offset = item.header.next_offset
                exam.batches += 1
        except CorruptRecord as exc:
            message = str(exc)
            prefix = f"{seg.log_path}: "
            exam.corrupt = message[len(prefix) :] if message.startswith(prefix) else message
            exam.problems.append(LogProblem(seg.log_path.name, exam.corrupt))
        if exam.valid_size > size:  # pragma: no cover - the walk never passes the end
            exam.valid_size = size
        return exam

    def _truncate_at(self, corrupt: tuple[int, int, str], index_interval_bytes: int):
        """Truncate segment ``i`` at ``position`` and delete every later segment."""
        segs = self._segs
        i, position, why = corrupt
        seg = segs.segments[i]
        later = segs.segments[i + 1 :]
        with open(seg.log_path, "r+b") as f:
            f.truncate(position)
            os.fsync(f.fileno())
        for doomed in later:
            doomed.delete()
            segs.deleted(doomed)
        fsync_dir(segs.directory)
        segs.load()
        fd = segs.read_fd(seg)
        end, _size = seg.rebuild_indexes(fd, index_interval_bytes, closed=False)
        self._producer_state.delete_snapshots(
            o for o in self._producer_state.snapshot_offsets() if o > end
        )
        removed = f"truncated at byte position {position}"
        if later:
            removed += f" and removed {len(later)} later segment(s)"
        return LogProblem(seg.log_path.name, why, f"{removed}: the log now ends at offset {end}")

    def _accept_gaps(
        self, checkpoints: LogCheckpoints, index_interval_bytes: int, allow_gaps: bool
    ) -> list[LogProblem]:
        """Make the log contiguous again, accepting what is already lost: truncate after the
        first gap, start a missing active segment where the log now ends, move the log start
        offset to the first segment left.  Returns what was done."""
        segs = self._segs
        out: list[LogProblem] = []
        recovery_point = checkpoints.recovery_point.read()
        if not segs.segments:
            base = recovery_point or 0
            Segment(segs.directory, base).create()
            fsync_dir(segs.directory)
            segs.load()
            return [
                LogProblem(
                    segment_filename(base, LOG_SUFFIX),
                    "every segment was missing",
                    f"created an empty segment: the log starts again at offset {base}",
                )
            ]
        if not allow_gaps:
            pairs = list(zip(segs.segments, segs.segments[1:], strict=False))
            for i, (seg, after) in enumerate(pairs):
                end = segs.closed_end_offset(seg)
                if end != after.base_offset:
                    fixed = self._truncate_at((i, seg.size(), ""), index_interval_bytes)
                    out.append(
                        LogProblem(
                            seg.log_path.name,
                            f"offsets from {end} were missing before {after.log_path.name}",
                            fixed.repaired,
                        )
                    )
                    break
        active = segs.segments[-1]
        if recovery_point is not None and active.base_offset < recovery_point:
            base = segs.closed_end_offset(active)
            if base > active.base_offset:  # else the empty last segment is the active one
                Segment(segs.directory, base).create()
                fsync_dir(segs.directory)
                segs.load()
            out.append(
                LogProblem(
                    segment_filename(recovery_point, LOG_SUFFIX),
                    "the active segment was missing",
                    f"created an empty active segment at offset {base}: new records take "
                    f"offsets from {base} on",
                )
            )
        log_start = checkpoints.log_start.read()
        first = segs.segments[0]
        if log_start is not None and first.base_offset > log_start:
            out.append(
                LogProblem(
                    first.log_path.name,
                    f"{_range(log_start, first.base_offset)} were missing at the start",
                    f"log start offset moved to {first.base_offset}",
                )
            )
        return out

    def _examine_snapshots(self, repair: bool) -> list[LogProblem]:
        state = self._producer_state
        out = []
        for offset in state.snapshot_offsets():
            if not ProducerState(self._segs.directory).load_snapshot(offset):
                if repair:
                    state.delete_snapshots([offset])
                out.append(
                    LogProblem(
                        state.snapshot_path(offset).name,
                        "producer snapshot does not parse",
                        "removed (it is rebuilt from the log)" if repair else "",
                    )
                )
        return out

    def check_indexes_on_open(self, file_lock, index_interval_bytes: int) -> None:
        """Kafka's index sanity check on open, once per segment per process: a damaged index
        is rebuilt when the partition lock is free, else not trusted (lookups then scan)."""
        segs = self._segs
        for i, seg in enumerate(segs.segments):
            if seg.base_offset in self._indexes_checked:
                continue
            last = i == len(segs.segments) - 1
            try:
                fd = segs.read_fd(seg)
                end = None if last else segs.closed_end_offset(seg)
                problem = seg.index_problem(fd, seg.size(), end, every_entry=False)
            except (_SegmentGone, CorruptRecord):
                continue  # gone, or damage that the verifier and the readers report
            if problem is not None:
                try:
                    locked = file_lock.try_acquire()
                except OSError:
                    locked = False  # a read-only store: read without the index
                if locked:
                    try:
                        seg.rebuild_indexes(fd, index_interval_bytes, closed=not last)
                    finally:
                        file_lock.release()
                    segs.rescan()
                else:
                    seg.offset_index.trusted = seg.time_index.trusted = False
            self._indexes_checked.add(seg.base_offset)

    # -- repairs a writer makes once, under the lock (see Log._sync_for_write) --------------

    def cleanup_leftovers(
        self, index_interval_bytes: int | None = None, *, dry_run: bool = False
    ) -> list[str]:
        """Files a crash can leave: a cleaner's half-done swap (finished or undone, see
        ``storage.segment_swap``), indexes whose .log is gone, temp files, .deleted files.

        Returns the names of the files removed (with ``dry_run``, found)."""
        directory = self._segs.directory
        if dry_run or index_interval_bytes is None:
            removed = leftover_swap_files(directory)
        else:
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
                if not dry_run:
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


@dataclass
class _SegmentExam:
    next_offset: int
    valid_size: int = 0
    batches: int = 0
    truncated: bool = False
    corrupt: str | None = None
    problems: list = field(default_factory=list)


@dataclass(frozen=True)
class LogProblem:
    """One thing wrong in a partition directory: the file, what is wrong, and what a repair
    did about it ("" when nothing was repaired)."""

    file: str
    problem: str
    repaired: str = ""


def _range(first: int, end: int) -> str:
    return f"offset {first}" if end == first + 1 else f"offsets {first}..{end - 1}"


class OffsetVerifier:
    """Are a partition's offsets contiguous from log start to log end, and never behind its
    checkpoints?  The rule recovery, ``kcli check`` and every open of a log share."""

    def __init__(self, segments: LogSegments, checkpoints: LogCheckpoints):
        self._segs = segments
        self._checkpoints = checkpoints

    def problems(self, *, allow_gaps: bool) -> list[LogProblem]:
        """Gaps between segments (unless ``allow_gaps``: a compacted log has them) and
        segments missing against the checkpoints.  Reads no more than each closed segment's
        last index entry onwards, once per process."""
        segs = self._segs
        out: list[LogProblem] = []
        recovery_point = self._checkpoints.recovery_point.read()
        log_start = self._checkpoints.log_start.read()
        if not segs.segments:
            if recovery_point is not None:
                out.append(
                    LogProblem(
                        RECOVERY_POINT_CHECKPOINT,
                        f"every segment is missing: the log held offsets up to at least "
                        f"{recovery_point} but no .log file is left",
                    )
                )
            return out
        first = segs.segments[0]
        if log_start is not None and first.base_offset > log_start:
            out.append(
                LogProblem(
                    first.log_path.name,
                    f"{_range(log_start, first.base_offset)} are missing: the log starts at "
                    f"{log_start} ({LOG_START_CHECKPOINT}) but the first segment is "
                    f"{first.log_path.name}",
                )
            )
        active = segs.segments[-1]
        if recovery_point is not None and active.base_offset < recovery_point:
            out.append(
                LogProblem(
                    active.log_path.name,
                    f"the active segment {segment_filename(recovery_point, LOG_SUFFIX)} is "
                    f"missing: offsets from {recovery_point} on were in it "
                    f"({RECOVERY_POINT_CHECKPOINT}); the last segment left is "
                    f"{active.log_path.name}",
                )
            )
        if allow_gaps:
            return out
        for seg, after in zip(segs.segments, segs.segments[1:], strict=False):
            try:
                end = segs.closed_end_offset(seg)
            except CorruptRecord as exc:
                out.append(LogProblem(seg.log_path.name, str(exc)))
                continue
            if end < after.base_offset:
                what = "is empty" if end == seg.base_offset else f"ends at offset {end}"
                out.append(
                    LogProblem(
                        seg.log_path.name,
                        f"{_range(end, after.base_offset)} are missing: {seg.log_path.name} "
                        f"{what} but the next segment is {after.log_path.name}",
                    )
                )
            elif end > after.base_offset:
                out.append(
                    LogProblem(
                        seg.log_path.name,
                        f"{seg.log_path.name} ends at offset {end}, past the start of the next "
                        f"segment {after.log_path.name}: offsets overlap",
                    )
                )
        return out

    def verify_on_open(self, name: str, *, allow_gaps: bool) -> None:
        """Raise LogGap unless the offsets are contiguous and never behind the checkpoints."""
        problems = None
        for _attempt in range(3):
            try:
                problems = self.problems(allow_gaps=allow_gaps)
            except _SegmentGone:
                problems = None
            if problems == []:
                return
            # Another process may be rolling or deleting right now: look again.
            self._segs.load()
        if problems is None:
            raise StorageError(f"{name}: segments keep disappearing while opening the log")
        raise self.error(name, problems)

    @staticmethod
    def error(name: str, problems: list[LogProblem]) -> LogGap:
        """The error a read or write of a log with these problems raises."""
        topic = name.rsplit("-", 1)[0]
        return LogGap(
            f"{name}: {problems[0].problem}; nothing was read or written (see "
            f"'kcli check {topic}', and 'kcli check {topic} --repair "
            f"--truncate-after-corruption' to accept the loss)"
        )
