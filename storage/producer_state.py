"""Idempotent producers: the state a partition keeps to turn retries into no-ops.

An idempotent producer (``enable.idempotence=true``) stamps every batch with its producer id,
its producer epoch and the sequence number of its first record; sequences count records per
partition from 0.  When a send times out, the producer resends the *same* batch.  Kafka's
broker (``ProducerStateManager``) remembers, per producer id, the epoch and the last five
batches appended (first and last sequence, first and last offset); kcli does the same:

* A batch whose epoch and sequence range equal one already appended is a **duplicate**: it is
  not written again and the append returns the offsets the first copy got
  (``AppendInfo.duplicate`` is True) -- Kafka's DUPLICATE_SEQUENCE handling.
* Otherwise the batch must continue the producer's sequence (first sequence = last sequence + 1,
  wrapping after 2**31-1), else ``OutOfOrderSequence``; an epoch older than the last one seen is
  ``InvalidProducerEpoch`` (a fenced, zombie producer); a new epoch starts again at sequence 0.
  A producer id the partition has never seen may start at any sequence (its earlier batches may
  have been deleted by retention), as in Kafka.

The state lives in memory, but none of it is authoritative: it is a function of the batch
headers in the log.  A process catches up by reading the headers of batches other processes
appended (under the partition lock, before appending), starting from the newest
``<offset>.snapshot`` file at or below the log end offset.  Snapshots are Kafka's files,
named by the offset they are valid at, in Kafka's v1 format (version, CRC-32C, then one entry
per batch remembered, oldest first, so a Kafka reader keeping the last entry per producer id
sees what Kafka itself would store).  They are written when a segment rolls, at segment
boundaries crossed while catching up, and after any long catch-up, so that no process ever
has to read more than about one segment of headers.  A damaged snapshot is ignored.
Producer entries are never expired (Kafka expires them after ``producer.id.expiration.ms``).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from storage.constants import FILENAME_DIGITS, INT32_MAX, NO_PRODUCER_EPOCH, SNAPSHOT_SUFFIX
from storage.crc import crc32c
from storage.errors import InvalidProducerEpoch, OutOfOrderSequence
from storage.fileio import atomic_write

# Batches remembered per producer (Kafka's ProducerStateEntry.NUM_BATCHES_TO_RETAIN): a
# producer has at most 5 requests in flight, so only its last 5 batches can be retried.
BATCHES_TO_RETAIN = 5
SNAPSHOT_VERSION = 1
_VERSION_CRC = struct.Struct(">hI")
_COUNT = struct.Struct(">i")
# producerId, epoch, lastSequence, lastOffset, offsetDelta, timestamp, coordinatorEpoch,
# currentTxnFirstOffset: Kafka's PRODUCER_SNAPSHOT_SCHEMA_V1 entry.
_ENTRY = struct.Struct(">qhiqiqiq")


def last_sequence(base_sequence: int, last_offset_delta: int) -> int:
    """The sequence of a batch's last record (sequences wrap to 0 after 2**31-1)."""
    if base_sequence > INT32_MAX - last_offset_delta:
        return last_offset_delta - (INT32_MAX - base_sequence) - 1
    return base_sequence + last_offset_delta


def in_sequence(last_seq: int, next_seq: int) -> bool:
    return next_seq == last_seq + 1 or (next_seq == 0 and last_seq == INT32_MAX)


def snapshot_filename(offset: int) -> str:
    return f"{offset:0{FILENAME_DIGITS}d}{SNAPSHOT_SUFFIX}"


@dataclass(frozen=True, slots=True)
class BatchMetadata:
    """One appended batch of an idempotent producer."""

    first_seq: int
    last_seq: int
    first_offset: int
    last_offset: int
    timestamp: int


class ProducerEntry:
    """What a partition remembers about one producer id."""

    __slots__ = ("producer_id", "epoch", "batches")

    def __init__(self, producer_id: int, epoch: int, batches: list[BatchMetadata] | None = None):
        self.producer_id = producer_id
        self.epoch = epoch
        self.batches = batches if batches is not None else []

    def copy(self) -> ProducerEntry:
        return ProducerEntry(self.producer_id, self.epoch, list(self.batches))

    def add(self, epoch: int, batch: BatchMetadata) -> None:
        if epoch != self.epoch:
            self.epoch = epoch
            self.batches = []
        self.batches.append(batch)
        if len(self.batches) > BATCHES_TO_RETAIN:
            del self.batches[0]

    def find_duplicate(self, epoch: int, first_seq: int, last_seq: int) -> BatchMetadata | None:
        if epoch != self.epoch:
            return None
        for batch in self.batches:
            if batch.first_seq == first_seq and batch.last_seq == last_seq:
                return batch
        return None


@dataclass(frozen=True, slots=True)
class ProducerUpdate:
    """A batch to record once it is on disk."""

    producer_id: int
    epoch: int
    batch: BatchMetadata


class ProducerState:
    """Producer entries valid for the batches below ``end_offset`` (-1: not loaded yet)."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.producers: dict[int, ProducerEntry] = {}
        self.end_offset = -1

    @property
    def loaded(self) -> bool:
        return self.end_offset >= 0

    def reset(self, end_offset: int) -> None:
        self.producers = {}
        self.end_offset = end_offset

    def unload(self) -> None:
        self.reset(-1)

    # -- updating ------------------------------------------------------------------------

    def apply(self, update: ProducerUpdate) -> None:
        entry = self.producers.get(update.producer_id)
        if entry is None:
            entry = self.producers[update.producer_id] = ProducerEntry(
                update.producer_id, update.epoch
            )
        entry.add(update.epoch, update.batch)

    def apply_header(
        self,
        producer_id: int,
        epoch: int,
        base_sequence: int,
        base_offset: int,
        last_offset_delta: int,
        max_timestamp: int,
    ) -> None:
        """Record a batch read back from the log (no checks: it is there already)."""
        if producer_id < 0 or base_sequence < 0:
            return
        batch = BatchMetadata(
            base_sequence,
            last_sequence(base_sequence, last_offset_delta),
            base_offset,
            base_offset + last_offset_delta,
            max_timestamp,
        )
        self.apply(ProducerUpdate(producer_id, epoch, batch))

    def begin(self) -> ProducerAppend:
        return ProducerAppend(self)

    # -- snapshots -----------------------------------------------------------------------

    def snapshot_offsets(self) -> list[int]:
        """Offsets of the snapshot files in the partition directory, ascending."""
        out = []
        for name in os.listdir(self.directory):
            if name.endswith(SNAPSHOT_SUFFIX):
                stem = name[: -len(SNAPSHOT_SUFFIX)]
                if stem.isdigit():
                    out.append(int(stem))
        return sorted(out)

    def snapshot_path(self, offset: int) -> Path:
        return self.directory / snapshot_filename(offset)

    def write_snapshot(self) -> Path:
        """Write ``<end_offset>.snapshot``: temp file, fsync, rename."""
        entries = []
        for entry in self.producers.values():
            for batch in entry.batches:
                entries.append(
                    _ENTRY.pack(
                        entry.producer_id,
                        entry.epoch,
                        batch.last_seq,
                        batch.last_offset,
                        batch.last_offset - batch.first_offset,
                        batch.timestamp,
                        -1,  # coordinatorEpoch: no transactions
                        -1,  # currentTxnFirstOffset
                    )
                )
        body = _COUNT.pack(len(entries)) + b"".join(entries)
        data = _VERSION_CRC.pack(SNAPSHOT_VERSION, crc32c(body)) + body
        path = self.snapshot_path(self.end_offset)
        atomic_write(path, data)
        return path

    def load_snapshot(self, offset: int) -> bool:
        """Replace the state by the snapshot at ``offset``; False if it is missing or damaged."""
        try:
            data = self.snapshot_path(offset).read_bytes()
        except FileNotFoundError:
            return False
        producers = _parse_snapshot(data)
        if producers is None:
            return False
        self.producers = producers
        self.end_offset = offset
        return True

    def delete_snapshots(self, offsets: Iterable[int]) -> None:
        for offset in offsets:
            self.snapshot_path(offset).unlink(missing_ok=True)


def _parse_snapshot(data: bytes) -> dict[int, ProducerEntry] | None:
    if len(data) < _VERSION_CRC.size + _COUNT.size:
        return None
    version, crc = _VERSION_CRC.unpack_from(data, 0)
    body = memoryview(data)[_VERSION_CRC.size :]
    if version != SNAPSHOT_VERSION or crc32c(body) != crc:
        return None
    (count,) = _COUNT.unpack_from(body, 0)
    if count < 0 or len(body) != _COUNT.size + count * _ENTRY.size:
        return None
    producers: dict[int, ProducerEntry] = {}
    for pid, epoch, last_seq, last_offset, delta, ts, _coord, _txn in _ENTRY.iter_unpack(
        body[_COUNT.size :]
    ):
        first_seq = last_seq - delta if last_seq >= delta else INT32_MAX - (delta - last_seq) + 1
        entry = producers.get(pid)
        if entry is None:
            entry = producers[pid] = ProducerEntry(pid, epoch)
        entry.add(epoch, BatchMetadata(first_seq, last_seq, last_offset - delta, last_offset, ts))
    return producers


class ProducerAppend:
    """The checks of one append call, against the state plus this call's earlier batches."""

    def __init__(self, state: ProducerState):
        self._state = state
        self._pending: dict[int, ProducerEntry] = {}

    def check(
        self, producer_id: int, epoch: int, base_sequence: int, last_offset_delta: int
    ) -> BatchMetadata | None:
        """The batch this one duplicates, or None if it is new; raises if it cannot follow."""
        entry = self._pending.get(producer_id) or self._state.producers.get(producer_id)
        last_seq = last_sequence(base_sequence, last_offset_delta)
        if entry is None:
            return None
        duplicate = entry.find_duplicate(epoch, base_sequence, last_seq)
        if duplicate is not None:
            return duplicate
        if epoch < entry.epoch:
            raise InvalidProducerEpoch(
                f"producer {producer_id} sent epoch {epoch}, older than the current epoch "
                f"{entry.epoch}: a newer instance of this producer has taken over (fenced)"
            )
        if epoch != entry.epoch:
            if base_sequence != 0 and entry.epoch != NO_PRODUCER_EPOCH:
                raise OutOfOrderSequence(
                    f"producer {producer_id} started epoch {epoch} at sequence {base_sequence}; "
                    f"a new epoch must start at sequence 0"
                )
        elif entry.batches and not in_sequence(entry.batches[-1].last_seq, base_sequence):
            raise OutOfOrderSequence(
                f"producer {producer_id} epoch {epoch} sent sequence {base_sequence} but the "
                f"partition expects {_next_sequence(entry.batches[-1].last_seq)}: a batch is "
                f"missing or out of order"
            )
        return None

    def record(self, update: ProducerUpdate) -> None:
        """Count a batch of this call as appended for the checks of the following ones."""
        entry = self._pending.get(update.producer_id)
        if entry is None:
            current = self._state.producers.get(update.producer_id)
            entry = current.copy() if current else ProducerEntry(update.producer_id, update.epoch)
            self._pending[update.producer_id] = entry
        entry.add(update.epoch, update.batch)


def _next_sequence(last_seq: int) -> int:
    return 0 if last_seq == INT32_MAX else last_seq + 1
