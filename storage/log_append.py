"""Writing an append into a log's segments: offsets given (or, for a follower, kept), the
LogAppendTime stamped, segments rolled as they fill, the batches written by the active
segment (which owns the index policy, as Kafka's LogSegment does), producer state recorded
once the bytes are down, and a failed write rolled back so that "nothing was written" is
true.  ``storage.log.Log`` composes it and holds the partition's lock around it."""

from __future__ import annotations

import os

from storage.clock import Clock
from storage.constants import LOG_OVERHEAD
from storage.errors import DataDirError
from storage.fileio import fsync_dir
from storage.log_checkpoints import LogCheckpoints
from storage.log_producer_state import LogProducerState
from storage.log_segments import LogSegments
from storage.log_types import AppendInfo
from storage.log_writer import LogWriter
from storage.producer_state import ProducerState, ProducerUpdate
from storage.records import LOG_APPEND_TIME, set_log_append_time
from storage.segment import AppendBatch, Segment
from storage.topic_config import TopicConfig


class LogAppend:
    """One partition's append path below validation (see the module docstring)."""

    def __init__(
        self,
        directory,
        name: str,
        segs: LogSegments,
        writer: LogWriter,
        producers: LogProducerState,
        producer_state: ProducerState,
        checkpoints: LogCheckpoints,
        clock: Clock,
    ):
        self.directory = directory
        self.name = name
        self.segs = segs
        self.writer = writer
        self.producers = producers
        self.producer_state = producer_state
        self.checkpoints = checkpoints
        self.clock = clock

    def write(
        self, items: list, config: TopicConfig, *, fsync: bool, as_follower: bool = False
    ) -> tuple[AppendInfo, bool]:
        """Write an append's validated (header, batch) pairs; its AppendInfo and whether a
        segment rolled (the log then applies retention).  A failed write is rolled back and
        raised as DataDirError."""
        segs = self.segs
        now = self.clock.now_ms()
        # A follower keeps the timestamps its leader stamped.
        log_append = config.message_timestamp_type == LOG_APPEND_TIME and not as_follower
        updates = self.producers.check(
            items,
            segs.log_end_offset,
            now if log_append else -1,
            self.name,
            as_follower=as_follower,
        )
        if isinstance(updates, AppendInfo):
            return updates, False
        first_offset = items[0][0].base_offset if as_follower else segs.log_end_offset
        mark = segs.mark()
        try:
            rolled = self._write_all(
                items, updates, now, log_append, config, fsync=fsync, as_follower=as_follower
            )
        except OSError as exc:
            # A full disk, an I/O error: put the log back where it was, so that "nothing
            # was written" is true and a retry does not duplicate records.
            self._roll_back(mark)
            raise DataDirError(
                f"cannot append to {self.name}: {os.strerror(exc.errno or 0).lower()} (the "
                f"partial write was rolled back to offset {first_offset})"
            ) from None
        info = AppendInfo(
            base_offset=first_offset,
            last_offset=segs.log_end_offset - 1,
            log_append_time=now if log_append else -1,
            log_start_offset=segs.log_start_offset,
        )
        return info, rolled

    def _roll_back(self, mark) -> None:
        self.writer.abandon()
        self.segs.truncate_to(mark)
        if self.checkpoints.recovery_point.read() != mark.base_offset:  # it rolled
            self.checkpoints.recovery_point.write(mark.base_offset)
        self.producer_state.unload()  # it may hold this call's batches

    def _write_all(
        self,
        items,
        updates,
        now: int,
        log_append: bool,
        config: TopicConfig,
        *,
        fsync: bool,
        as_follower: bool,
    ) -> bool:
        """Write the batches, rolling segments as needed; True if it rolled.  Offsets follow
        the log end offset, or with ``as_follower`` are the batches' own."""
        segs = self.segs
        next_offset = segs.log_end_offset
        pending: list[tuple[AppendBatch, ProducerUpdate | None]] = []
        pending_bytes = 0
        rolled = False
        for (header, data), update in zip(items, updates, strict=True):
            if as_follower:
                next_offset = header.base_offset
            size = header.batch_length + LOG_OVERHEAD
            if segs.should_roll(
                size, header.last_offset_delta, pending_bytes, next_offset, now, config
            ):
                self._write(pending, config, fsync=fsync)
                pending = []
                pending_bytes = 0
                self._roll()
                rolled = True
            max_ts = header.max_timestamp
            if log_append:
                data = bytearray(data)
                set_log_append_time(data, now)
                max_ts = now
            last_offset = next_offset + header.last_offset_delta
            pending.append((AppendBatch(next_offset, last_offset, max_ts, data), update))
            pending_bytes += size
            next_offset = last_offset + 1
        self._write(pending, config, fsync=fsync)
        return rolled

    def _write(
        self,
        pending: list[tuple[AppendBatch, ProducerUpdate | None]],
        config: TopicConfig,
        *,
        fsync: bool,
    ) -> None:
        """Write batches to the active segment (which indexes them), then record producer
        state.  In-memory state moves only once the bytes are on disk: a failed write leaves
        a torn tail that the next append truncates."""
        if not pending:
            return
        segs = self.segs
        active = segs.active
        fd = self.writer.fd(active)
        batches = [b for b, _update in pending]
        end_position, max_ts = active.append(
            fd,
            segs.end_position,
            batches,
            max_timestamp=segs.active_max_timestamp,
            index_interval_bytes=config.index_interval_bytes,
        )
        self.writer.wrote(fsync=fsync)
        state = self.producer_state
        state_current = state.end_offset == segs.log_end_offset
        log_end_offset = batches[-1].last_offset + 1
        segs.appended(end_position, log_end_offset, max_ts)
        if state_current:
            for _batch, update in pending:
                if update is not None:
                    state.apply(update)
            state.end_offset = log_end_offset

    def _roll(self) -> None:
        segs = self.segs
        old = segs.active
        # The old segment is closed for good: make it and its indexes durable.
        self.writer.close()
        old.seal(segs.active_max_timestamp, segs.log_end_offset - 1)
        segs.sealed(old, segs.active_max_timestamp)
        state = self.producer_state
        if state.end_offset == segs.log_end_offset:
            # Written before the segment exists, so a segment always has its snapshot.
            state.write_snapshot()
        new = Segment(self.directory, segs.log_end_offset)
        new.create()
        fsync_dir(self.directory)
        # After the segment exists: a reader never sees a recovery point past the last one.
        self.checkpoints.recovery_point.write(new.base_offset)
        segs.rolled_to(new)
