"""The broker's one way into the store: append to, read from and look up partitions.

Every request handler that touches records or partition offsets goes through ``Partitions``
and nothing else, so the replica layer of ``kcli cluster`` can stand in front of it (a leader
that waits for its followers before acknowledging, a follower that refuses produce) without
the handlers changing.  Every method blocks (disk I/O): the handlers call them in the
server's thread pool.  Each returns plain values with Kafka error codes; none raises a
``StorageError``.
"""

from __future__ import annotations

import base64
import struct
import threading
import uuid
from dataclasses import dataclass

from kcli.serve.errors import error_code
from kcli.serve.protocol import ErrorCode
from storage import (
    CorruptRecord,
    OffsetOutOfRange,
    StorageError,
    Store,
    TopicNotFound,
    validate_topic_name,
)
from storage.constants import BATCH_HEADER_SIZE, LENGTH_POS, LOG_OVERHEAD, RECORDS_COUNT_POS
from storage.leader_epoch import stamp_leader_epoch
from storage.records import split_batches

_INT32 = struct.Struct(">i")
_INT64 = struct.Struct(">q")
# ListOffsets' special timestamps (Kafka's ListOffsetsRequest constants).
LATEST_TIMESTAMP = -1
EARLIEST_TIMESTAMP = -2
MAX_TIMESTAMP = -3
EARLIEST_LOCAL_TIMESTAMP = -4
LATEST_TIERED_TIMESTAMP = -5


def count_records(data: bytes | memoryview) -> int:
    """Records in concatenated batches, read from their headers (nothing is decoded)."""
    total = 0
    pos = 0
    end = len(data)
    while pos + BATCH_HEADER_SIZE <= end:
        total += _INT32.unpack_from(data, pos + RECORDS_COUNT_POS)[0]
        pos += _INT32.unpack_from(data, pos + LENGTH_POS)[0] + LOG_OVERHEAD
    return total


def below(data: bytes, offset: int) -> bytes:
    """The whole batches of ``data`` that start before ``offset`` (a consumer of a cluster
    never reads past the high watermark)."""
    pos = 0
    end = len(data)
    while pos + BATCH_HEADER_SIZE <= end:
        base = _INT64.unpack_from(data, pos)[0]
        if base >= offset:
            break
        pos += _INT32.unpack_from(data, pos + LENGTH_POS)[0] + LOG_OVERHEAD
    return data if pos >= end else data[:pos]


def topic_uuid(topic_id: str) -> uuid.UUID:
    """A stored topic id (Kafka's base64 form of a UUID, as ``kafka-topics`` prints it) as a UUID."""
    return uuid.UUID(bytes=base64.urlsafe_b64decode(topic_id + "=" * (-len(topic_id) % 4)))


@dataclass
class Appended:
    """The outcome of appending one partition's records."""

    error: ErrorCode
    base_offset: int = -1
    log_append_time: int = -1
    log_start_offset: int = -1
    records: int = 0
    message: str | None = None
    end_offset: int = -1  # the log end offset after the append


@dataclass
class Read:
    """The outcome of reading one partition for a Fetch."""

    topic: str
    partition: int
    error: ErrorCode
    high_watermark: int = -1
    log_start_offset: int = -1
    records: bytes = b""
    # What a fetch waits past; the high watermark but on a cluster leader, whose consumers'
    # high watermark is below its log end.
    log_end_offset: int = -1

    def __post_init__(self):
        if self.log_end_offset < 0:
            self.log_end_offset = self.high_watermark


@dataclass(frozen=True)
class TopicInfo:
    """A topic as Metadata and DescribeTopicPartitions describe it (or why it cannot be)."""

    name: str
    error: ErrorCode
    topic_id: uuid.UUID | None = None
    partitions: int = 0


@dataclass(frozen=True)
class PartitionSize:
    topic: str
    partition: int
    error: ErrorCode
    size_bytes: int = 0


class Partitions:
    """Appends, reads and offsets of the store's partitions, for the broker's handlers."""

    def __init__(self, store: Store, *, num_partitions: int):
        self.store = store
        self.num_partitions = num_partitions  # num.partitions, for auto-created topics
        # Store.next_producer_id's lock file keeps processes apart, not threads of this one.
        self._producer_id_mutex = threading.Lock()

    # -- topics ---------------------------------------------------------------------------

    def topics(self, names: list[str] | None, *, auto_create: bool = False) -> list[TopicInfo]:
        """Every topic (names None), or the named ones, created if missing and auto_create."""
        if names is None:
            return [
                TopicInfo(m.name, ErrorCode.NONE, topic_uuid(m.topic_id), m.partitions)
                for m in self.store.topics()
            ]
        out = []
        for name in names:
            try:
                validate_topic_name(name)
                if self.store.topic_exists(name):
                    meta = self.store.topic(name)
                elif auto_create:
                    meta = self.store.create_topic(name, self.num_partitions, if_not_exists=True)
                else:
                    raise TopicNotFound(f"topic '{name}' does not exist")
                out.append(
                    TopicInfo(meta.name, ErrorCode.NONE, topic_uuid(meta.topic_id), meta.partitions)
                )
            except StorageError as exc:
                out.append(TopicInfo(name, error_code(exc)))
        return out

    def topic_names(self, topic_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
        """The names of the topics with these ids (unknown ids are left out)."""
        wanted = set(topic_ids)
        return {
            topic_uuid(m.topic_id): m.name
            for m in self.store.topics()
            if topic_uuid(m.topic_id) in wanted
        }

    # -- produce --------------------------------------------------------------------------

    def append(
        self,
        topic: str,
        partition: int,
        records: bytes | None,
        leader_epoch: int = -1,
        fsync: bool = True,
    ) -> Appended:
        """Append one partition's batches (offsets assigned by the log); a cluster's leader
        stamps its ``leader_epoch`` in every batch (outside the CRC), as Kafka does.  With
        ``fsync=False`` the caller makes them durable with ``flush``."""
        try:
            log_ = self.store.log(topic, partition)
            if not records:
                raise CorruptRecord("the request holds no record batch")
            if leader_epoch >= 0:
                records = bytearray(records)
                stamp_leader_epoch(records, leader_epoch)
            batches = split_batches(records)
            count = sum(_INT32.unpack_from(b, RECORDS_COUNT_POS)[0] for b in batches)
            info = log_.append(batches, fsync=fsync)
        except StorageError as exc:
            return Appended(error_code(exc), message=str(exc))
        if getattr(info, "duplicate", False):
            # An idempotent producer resent a batch the log already holds: acknowledge it
            # again with its original offsets, as Kafka does.
            count = 0
        return Appended(
            ErrorCode.NONE,
            base_offset=info.base_offset,
            log_append_time=info.log_append_time,
            log_start_offset=info.log_start_offset,
            records=count,
            end_offset=info.last_offset + 1,
        )

    def flush(self, topic: str, partition: int) -> None:
        """fsync what ``append(fsync=False)`` wrote to the partition (flushes running at the
        same time share one fsync)."""
        self.store.log(topic, partition).flush()

    def next_producer_id(self) -> int:
        with self._producer_id_mutex:
            return self.store.next_producer_id()

    # -- fetch ----------------------------------------------------------------------------

    def read(self, wanted: list[tuple[str, int, int, int]], max_bytes: int) -> list[Read]:
        """Read (topic, partition, fetch offset, partition max bytes) within max_bytes in all.

        Only the first partition with data may exceed the limits (so that a consumer always
        makes progress); later ones wait for the next fetch.
        """
        out = []
        remaining = max_bytes
        have_data = False
        for topic, partition, offset, partition_max_bytes in wanted:
            try:
                log_ = self.store.log(topic, partition)
                limit = min(partition_max_bytes, remaining)
                if have_data and limit <= 0:
                    out.append(
                        Read(
                            topic,
                            partition,
                            ErrorCode.NONE,
                            log_.log_end_offset,
                            log_.log_start_offset,
                        )
                    )
                    continue
                result = log_.read(offset, max(limit, 1))
                data = result.records
                if have_data and len(data) > limit:
                    data = b""
                if data:
                    have_data = True
                    remaining -= len(data)
                out.append(
                    Read(
                        topic,
                        partition,
                        ErrorCode.NONE,
                        result.high_watermark,
                        result.log_start_offset,
                        data,
                    )
                )
            except OffsetOutOfRange as exc:
                out.append(
                    Read(
                        topic,
                        partition,
                        ErrorCode.OFFSET_OUT_OF_RANGE,
                        exc.log_end_offset,
                        exc.log_start_offset,
                    )
                )
            except StorageError as exc:
                out.append(Read(topic, partition, error_code(exc)))
        return out

    def log_end_offsets(self, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        out = {}
        for topic, partition in partitions:
            try:
                out[(topic, partition)] = self.store.log(topic, partition).log_end_offset
            except StorageError:
                pass
        return out

    # -- offsets --------------------------------------------------------------------------

    def list_offsets(self, wanted: list[tuple[str, int, int]]) -> list[tuple[int, int, int]]:
        """(error, timestamp, offset) for each (topic, partition, timestamp) asked."""
        out = []
        for topic, partition, timestamp in wanted:
            try:
                log_ = self.store.log(topic, partition)
                if timestamp == LATEST_TIMESTAMP:
                    out.append((ErrorCode.NONE, -1, log_.log_end_offset))
                elif timestamp in (EARLIEST_TIMESTAMP, EARLIEST_LOCAL_TIMESTAMP):
                    # Every segment is local: the earliest local offset is the log start.
                    out.append((ErrorCode.NONE, -1, log_.log_start_offset))
                elif timestamp == LATEST_TIERED_TIMESTAMP:
                    # Nothing is tiered: Kafka answers -1 then.
                    out.append((ErrorCode.NONE, -1, -1))
                elif timestamp == MAX_TIMESTAMP:
                    out.append(self._max_timestamp(log_))
                elif timestamp < 0:
                    out.append((ErrorCode.INVALID_REQUEST, -1, -1))
                else:
                    offset = log_.offset_for_time(timestamp)
                    if offset is None:
                        out.append((ErrorCode.NONE, -1, -1))
                    else:
                        records = log_.read_records(offset, 1)
                        ts = records[0].timestamp if records else -1
                        out.append((ErrorCode.NONE, ts, offset))
            except StorageError as exc:
                out.append((error_code(exc), -1, -1))
        return out

    @staticmethod
    def _max_timestamp(log_) -> tuple[int, int, int]:
        """The offset and timestamp of the record with the largest timestamp (the first such)."""
        best = (ErrorCode.NONE, -1, -1)
        offset = log_.log_start_offset
        end = log_.log_end_offset
        while offset < end:
            records = log_.read_records(offset, 1000)
            if not records:
                break
            for r in records:
                if r.timestamp > best[1]:
                    best = (ErrorCode.NONE, r.timestamp, r.offset)
            offset = records[-1].offset + 1
        return best

    def delete_records(self, topic: str, partition: int, offset: int) -> tuple[int, int]:
        """(error, low watermark): delete the whole segments that end at or before offset."""
        try:
            log_ = self.store.log(topic, partition)
            end = log_.log_end_offset
            if offset == -1:  # Kafka's "up to the high watermark"
                offset = end
            if not log_.log_start_offset <= offset <= end:
                return ErrorCode.OFFSET_OUT_OF_RANGE, -1
            log_.delete_segments_before(offset)
            return ErrorCode.NONE, log_.log_start_offset
        except StorageError as exc:
            return error_code(exc), -1

    def sizes(self, wanted: list[tuple[str, int]] | None) -> list[PartitionSize]:
        """Bytes on disk of each partition (of every partition when wanted is None)."""
        if wanted is None:
            wanted = [(m.name, p) for m in self.store.topics() for p in range(m.partitions)]
        out = []
        for topic, partition in wanted:
            try:
                size = self.store.log(topic, partition).size_bytes()
                out.append(PartitionSize(topic, partition, ErrorCode.NONE, size))
            except StorageError as exc:
                out.append(PartitionSize(topic, partition, error_code(exc)))
        return out
