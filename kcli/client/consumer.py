"""Consumer: read records from the store, with confluent-kafka's methods and config keys.

Two ways to get partitions, as in Kafka:

* ``assign([TopicPartition(...)])`` — you pick topic, partition and starting offset yourself
  (what ``kcli consume`` does without ``--group``);
* ``subscribe([topics])`` with a ``group.id`` — the group shares the partitions among its
  members, and committed offsets say where each partition resumes.

``poll`` returns one ``Message`` at a time (or None on timeout); ``consume`` returns a list.
Positions are tracked per partition: the *fetch position* is where the next read from the
log starts; the *consumed position* (offset of the last message handed out, plus one) is what
commits store, as librdkafka does with ``enable.auto.offset.store``.

The class is assembled from three modules, one concept each: this one holds the public
methods (config, assignment, offsets and commits, poll/consume, lifecycle);
``kcli.client.fetcher`` the per-partition positions, reading the log and decoding records;
``kcli.client.membership`` the group (subscribe, rebalance callbacks, heartbeats).
"""

from __future__ import annotations

import time

from kcli.client.config import as_bool, as_int, check_keys, data_dir_of
from kcli.client.fetcher import (  # noqa: F401 - OFFSET_TAIL, OFFSET_TAIL_BASE: public here
    _RESET_EARLIEST,
    _RESET_LATEST,
    OFFSET_TAIL,
    OFFSET_TAIL_BASE,
    PartitionFetcher,
    _PartitionState,
)
from kcli.client.membership import GroupSubscription
from kcli.client.types import (
    OFFSET_END,
    OFFSET_INVALID,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

CONSUMER_KEYS = frozenset(
    {
        "data.dir",
        "group.id",
        "client.id",
        "auto.offset.reset",
        "enable.auto.commit",
        "auto.commit.interval.ms",
        "enable.auto.offset.store",
        "session.timeout.ms",
        "heartbeat.interval.ms",
        "partition.assignment.strategy",
        "enable.partition.eof",
        "max.partition.fetch.bytes",
        "fetch.max.bytes",
        "on_commit",
    }
)


class Consumer(GroupSubscription, PartitionFetcher):
    """A Kafka consumer over a kcli store (confluent-kafka's ``Consumer``)."""

    def __init__(self, conf: dict | None = None, **kwargs):
        conf = dict(conf or {})
        conf.update(kwargs)
        check_keys(conf, CONSUMER_KEYS, "consumer")
        self._conf = conf
        self._data_dir = data_dir_of(conf)
        self._group_id: str | None = conf.get("group.id") or None
        self._client_id = str(conf.get("client.id", "kcli"))
        reset = str(conf.get("auto.offset.reset", "earliest")).lower()
        if reset not in (*_RESET_EARLIEST, *_RESET_LATEST, "error"):
            raise KafkaException(
                KafkaError(
                    KafkaError._INVALID_ARG,
                    f'Invalid value "{reset}" for auto.offset.reset: use earliest, latest or error',
                )
            )
        self._auto_offset_reset = reset
        self._enable_auto_commit = as_bool(conf, "enable.auto.commit", True)
        self._auto_commit_interval_s = as_int(conf, "auto.commit.interval.ms", 5000) / 1000
        self._auto_offset_store = as_bool(conf, "enable.auto.offset.store", True)
        self._session_timeout_ms = as_int(conf, "session.timeout.ms", 45000, minimum=1)
        self._heartbeat_interval_ms = as_int(conf, "heartbeat.interval.ms", 3000, minimum=1)
        self._assignor = str(conf.get("partition.assignment.strategy", "range"))
        self._partition_eof = as_bool(conf, "enable.partition.eof", False)
        self._max_partition_fetch_bytes = as_int(conf, "max.partition.fetch.bytes", 1 << 20, 1)
        self._on_commit = conf.get("on_commit")
        from storage import Store

        self._store = Store(self._data_dir)
        self._assigned: dict[tuple[str, int], _PartitionState] = {}
        self._order: list[tuple[str, int]] = []
        self._rr = 0
        self._pending_errors: list[Message] = []
        self._last_auto_commit = time.monotonic()
        self._closed = False
        self._init_group()

    # -- assignment ---------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("Consumer closed")

    def assign(self, partitions: list[TopicPartition]) -> None:
        """Read exactly these partitions, from each one's ``offset`` (or committed/reset)."""
        self._check_open()
        self._assign_calls += 1
        self._assigned = {}
        self._order = []
        self._add_partitions(partitions)

    def incremental_assign(self, partitions: list[TopicPartition]) -> None:
        """Add partitions to the current assignment."""
        self._check_open()
        self._assign_calls += 1
        self._add_partitions(partitions)

    def incremental_unassign(self, partitions: list[TopicPartition]) -> None:
        """Remove partitions from the current assignment."""
        self._check_open()
        for tp in partitions:
            key = (tp.topic, tp.partition)
            if self._assigned.pop(key, None) is not None:
                self._order.remove(key)

    def unassign(self) -> None:
        """Stop reading every partition."""
        self._check_open()
        self._assigned = {}
        self._order = []

    def assignment(self) -> list[TopicPartition]:
        """The partitions currently assigned."""
        self._check_open()
        return [TopicPartition(t, p) for t, p in self._order]

    def _add_partitions(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            key = (tp.topic, tp.partition)
            if key not in self._assigned:
                self._order.append(key)
            self._assigned[key] = _PartitionState(tp.topic, tp.partition, tp.offset)

    def seek(self, partition: TopicPartition) -> None:
        """Move an assigned partition's position: the next message comes from ``offset``."""
        self._check_open()
        st = self._assigned.get((partition.topic, partition.partition))
        if st is None:
            raise KafkaException(
                KafkaError(
                    KafkaError._STATE,
                    f"Failed to seek {partition.topic} [{partition.partition}]: "
                    f"partition is not assigned",
                )
            )
        st.requested = partition.offset
        st.fetch_position = None
        st.buffer = []
        st.buffer_pos = 0
        st.eof_reported_at = None

    def pause(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            st = self._assigned.get((tp.topic, tp.partition))
            if st is not None:
                st.paused = True

    def resume(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            st = self._assigned.get((tp.topic, tp.partition))
            if st is not None:
                st.paused = False

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        """The offset of the next message poll() will return, per partition."""
        self._check_open()
        out = []
        for tp in partitions:
            st = self._assigned.get((tp.topic, tp.partition))
            offset = OFFSET_INVALID
            if st is not None:
                if st.consumed is not None:
                    offset = st.consumed
                elif st.buffer_pos < len(st.buffer):
                    offset = st.buffer[st.buffer_pos].offset()
                elif st.fetch_position is not None:
                    offset = st.fetch_position
            out.append(TopicPartition(tp.topic, tp.partition, offset))
        return out

    # -- offsets ------------------------------------------------------------------------------

    def _log(self, topic: str, partition: int):
        from storage.errors import StorageError

        try:
            return self._store.log(topic, partition)
        except StorageError as exc:
            code = KafkaError.UNKNOWN_TOPIC_OR_PART
            raise KafkaException(KafkaError(code, str(exc))) from exc

    def get_watermark_offsets(
        self, partition: TopicPartition, timeout: float | None = None, cached: bool = False
    ) -> tuple[int, int]:
        """(low, high): the partition's log_start_offset and log_end_offset."""
        self._check_open()
        log = self._log(partition.topic, partition.partition)
        return log.log_start_offset, log.log_end_offset

    def offsets_for_times(
        self, partitions: list[TopicPartition], timeout: float | None = None
    ) -> list[TopicPartition]:
        """For each partition whose ``offset`` holds a timestamp (ms): the earliest offset whose
        record timestamp is at or after it, or OFFSET_END (-1) if there is none."""
        self._check_open()
        out = []
        for tp in partitions:
            found = self._log(tp.topic, tp.partition).offset_for_time(tp.offset)
            out.append(
                TopicPartition(tp.topic, tp.partition, OFFSET_END if found is None else found)
            )
        return out

    def committed(
        self, partitions: list[TopicPartition], timeout: float | None = None
    ) -> list[TopicPartition]:
        """The group's committed offsets (OFFSET_INVALID where nothing is committed)."""
        self._check_open()
        self._require_group("committed")
        keys = [(tp.topic, tp.partition) for tp in partitions]
        found = self._fetch_committed(keys)
        return [TopicPartition(t, p, found.get((t, p), OFFSET_INVALID)) for t, p in keys]

    def store_offsets(self, message: Message | None = None, offsets: list | None = None) -> None:
        """Mark offsets to be committed by the next commit (with enable.auto.offset.store=false)."""
        self._check_open()
        if message is not None:
            st = self._assigned.get((message.topic(), message.partition()))
            if st is not None:
                st.stored = message.offset() + 1
        for tp in offsets or []:
            st = self._assigned.get((tp.topic, tp.partition))
            if st is not None:
                st.stored = tp.offset

    def commit(
        self,
        message: Message | None = None,
        offsets: list[TopicPartition] | None = None,
        asynchronous: bool = True,
    ) -> list[TopicPartition] | None:
        """Commit offsets for the group: the message's offset + 1, the given offsets, or the
        current consumed positions.  kcli commits are durable when this returns, even when
        ``asynchronous`` is true."""
        self._check_open()
        self._require_group("commit")
        if message is not None:
            todo = {(message.topic(), message.partition()): message.offset() + 1}
        elif offsets is not None:
            todo = {(tp.topic, tp.partition): tp.offset for tp in offsets}
        else:
            todo = {
                key: st.stored
                for key, st in self._assigned.items()
                if st.stored is not None and st.stored != st.committed_sent
            }
            if not todo:
                raise KafkaException(KafkaError(KafkaError._NO_OFFSET, "Local: No offset stored"))
        self._do_commit(todo)
        result = [TopicPartition(t, p, o) for (t, p), o in todo.items()]
        return None if asynchronous else result

    def _do_commit(self, todo: dict[tuple[str, int], int]) -> None:
        error = None
        try:
            self._commit_to_store(todo)
        except Exception as exc:
            error = exc
        for key, offset in todo.items():
            st = self._assigned.get(key)
            if st is not None and error is None:
                st.committed_sent = offset
        if self._on_commit is not None:
            err = None if error is None else KafkaError(KafkaError._STATE, str(error))
            self._on_commit(err, [TopicPartition(t, p, o) for (t, p), o in todo.items()])
        if error is not None:
            if isinstance(error, KafkaException):
                raise error
            raise KafkaException(KafkaError(_error_code(error), str(error))) from error

    def _auto_commit(self, force: bool = False) -> None:
        if not (self._group_id and self._enable_auto_commit):
            return
        now = time.monotonic()
        if not force and now - self._last_auto_commit < self._auto_commit_interval_s:
            return
        self._last_auto_commit = now
        todo = {
            key: st.stored
            for key, st in self._assigned.items()
            if st.stored is not None and st.stored != st.committed_sent
        }
        if todo:
            try:
                self._do_commit(todo)
            except KafkaException as exc:
                # The group moved on (this member was removed, or a rebalance is under way):
                # like librdkafka, report it to on_commit only; the next poll rejoins.
                if exc.args[0].code() not in _GROUP_COMMIT_ERRORS:
                    raise

    def _require_group(self, what: str) -> None:
        if not self._group_id:
            raise KafkaException(
                KafkaError(
                    KafkaError._INVALID_ARG,
                    f"{what}() needs a group: set group.id in the consumer config",
                )
            )

    # -- reading ------------------------------------------------------------------------------

    def poll(self, timeout: float | None = None) -> Message | None:
        """The next message (or error event), waiting up to ``timeout`` seconds (None: forever)."""
        batch = self._group_verify(self._collect(1, timeout))
        return batch[0] if batch else None

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Message]:
        """Up to ``num_messages`` messages, waiting up to ``timeout`` seconds for the first one.

        Returns as soon as nothing more is available right now (confluent-kafka waits for the
        whole ``timeout`` to fill the batch)."""
        if not 1 <= num_messages <= 1_000_000:
            raise ValueError("num_messages must be between 1 and 1000000")
        return self._group_verify(
            self._collect(num_messages, None if timeout is None or timeout < 0 else timeout)
        )

    # -- kcli-only bulk read (what `kcli consume` uses; confluent-kafka has no such method) -----

    def consume_records(self, max_records: int = 100_000, timeout: float | None = -1) -> list:
        """kcli-only: like consume(), but without building a Message per record.

        Returns a list of items, each either an event ``Message`` (its ``error()`` says what:
        end of partition, unknown topic ...) or a tuple ``(topic, partition, records)`` whose
        ``records`` are storage ``Record`` tuples ``(offset, timestamp, key, value, headers)``
        in offset order.  Positions, stored offsets, auto-commit and group rebalances behave
        as with consume().  Waits up to ``timeout`` seconds (None or negative: forever).
        """
        return self._poll_loop(timeout, self._records_round, max_records)

    # -- metadata and lifecycle ---------------------------------------------------------------

    def list_topics(self, topic: str | None = None, timeout: float = -1):
        """Cluster metadata (topics and partitions), as AdminClient.list_topics returns it."""
        from kcli.client.admin import AdminClient

        return AdminClient({"data.dir": str(self._data_dir)}).list_topics(topic, timeout)

    def close(self) -> None:
        """Commit (with enable.auto.commit), leave the group, release the store."""
        if self._closed:
            return
        try:
            self._auto_commit(force=True)
        finally:
            try:
                self._leave_group()
            finally:
                self._closed = True
                self._store.close()

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# Commit errors that mean "the group moved on", not "something is broken".
_GROUP_COMMIT_ERRORS = frozenset(
    {KafkaError.ILLEGAL_GENERATION, KafkaError.UNKNOWN_MEMBER_ID, KafkaError.REBALANCE_IN_PROGRESS}
)


def _error_code(exc: Exception) -> int:
    name = type(exc).__name__
    return {
        "IllegalGeneration": KafkaError.ILLEGAL_GENERATION,
        "UnknownMemberId": KafkaError.UNKNOWN_MEMBER_ID,
        "RebalanceInProgress": KafkaError.REBALANCE_IN_PROGRESS,
        "FencedInstanceId": KafkaError.FENCED_INSTANCE_ID,
        "TopicNotFound": KafkaError.UNKNOWN_TOPIC_OR_PART,
        "PartitionNotFound": KafkaError.UNKNOWN_TOPIC_OR_PART,
    }.get(name, KafkaError._STATE)
