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

A Consumer is composed of objects with one job each: it holds the public methods (config,
offsets and commits, the poll loop, lifecycle); its ``Fetcher`` (kcli.local.fetcher) owns the
assignment and the per-partition positions and reads the log; its ``ConsumerCoordinator``
(kcli.local.coordinator) is its side of the group (subscribe, rebalance callbacks, committed
offsets), whose ``GroupMember`` (kcli.local.group_member) joins and heartbeats.
"""

from __future__ import annotations

import time

from kcli.client.config import as_bool, as_int, check_keys, data_dir_of
from kcli.client.error_codes import GROUP_MOVED_ON, kafka_error_code
from kcli.client.types import (
    OFFSET_END,
    OFFSET_INVALID,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)
from kcli.local.admin_client import AdminClient
from kcli.local.coordinator import ConsumerCoordinator
from kcli.local.fetcher import (  # noqa: F401 - OFFSET_TAIL, OFFSET_TAIL_BASE: public here
    _RESET_EARLIEST,
    _RESET_LATEST,
    AGAIN,
    OFFSET_TAIL,
    OFFSET_TAIL_BASE,
    Fetcher,
)
from storage import Store
from storage.errors import StorageError

# How long an idle poll sleeps between looks at the log, growing up to the maximum.
_IDLE_SLEEP_MIN_S = 0.005
_IDLE_SLEEP_MAX_S = 0.1

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


class Consumer:
    """A Kafka consumer over a kcli store (confluent-kafka's ``Consumer``)."""

    def __init__(self, conf: dict | None = None, **kwargs):
        conf = dict(conf or {})
        conf.update(kwargs)
        check_keys(conf, CONSUMER_KEYS, "consumer")
        self._data_dir = data_dir_of(conf)
        reset = str(conf.get("auto.offset.reset", "earliest")).lower()
        if reset not in (*_RESET_EARLIEST, *_RESET_LATEST, "error"):
            raise KafkaException(
                KafkaError(
                    KafkaError._INVALID_ARG,
                    f'Invalid value "{reset}" for auto.offset.reset: use earliest, latest or error',
                )
            )
        self._enable_auto_commit = as_bool(conf, "enable.auto.commit", True)
        self._auto_commit_interval_s = as_int(conf, "auto.commit.interval.ms", 5000) / 1000
        self._on_commit = conf.get("on_commit")
        self._store = Store(self._data_dir)
        # Event Messages (end of partition, errors) waiting to be handed out, in order.
        self._events: list[Message] = []
        self._fetcher = Fetcher(
            self._store,
            events=self._events,
            committed=self._committed_offsets,
            auto_offset_reset=reset,
            auto_offset_store=as_bool(conf, "enable.auto.offset.store", True),
            partition_eof=as_bool(conf, "enable.partition.eof", False),
            max_partition_fetch_bytes=as_int(conf, "max.partition.fetch.bytes", 1 << 20, 1),
        )
        self._coordinator = ConsumerCoordinator(
            self,
            self._store,
            self._fetcher,
            self._events,
            conf,
            group_id=conf.get("group.id") or None,
            client_id=str(conf.get("client.id", "kcli")),
        )
        self._last_auto_commit = time.monotonic()
        self._closed = False

    # -- assignment ---------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("Consumer closed")

    def assign(self, partitions: list[TopicPartition]) -> None:
        """Read exactly these partitions, from each one's ``offset`` (or committed/reset)."""
        self._check_open()
        self._fetcher.assign(partitions)

    def incremental_assign(self, partitions: list[TopicPartition]) -> None:
        """Add partitions to the current assignment."""
        self._check_open()
        self._fetcher.incremental_assign(partitions)

    def incremental_unassign(self, partitions: list[TopicPartition]) -> None:
        """Remove partitions from the current assignment."""
        self._check_open()
        self._fetcher.remove(partitions)

    def unassign(self) -> None:
        """Stop reading every partition."""
        self._check_open()
        self._fetcher.clear()

    def assignment(self) -> list[TopicPartition]:
        """The partitions currently assigned."""
        self._check_open()
        return self._fetcher.assignment()

    def seek(self, partition: TopicPartition) -> None:
        """Move an assigned partition's position: the next message comes from ``offset``."""
        self._check_open()
        self._fetcher.seek(partition)

    def pause(self, partitions: list[TopicPartition]) -> None:
        self._fetcher.set_paused(partitions, True)

    def resume(self, partitions: list[TopicPartition]) -> None:
        self._fetcher.set_paused(partitions, False)

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        """The offset of the next message poll() will return, per partition."""
        self._check_open()
        return [
            TopicPartition(tp.topic, tp.partition, self._fetcher.position(tp)) for tp in partitions
        ]

    # -- groups -------------------------------------------------------------------------------

    def subscribe(self, topics: list[str], on_assign=None, on_revoke=None, on_lost=None) -> None:
        """Join the group (``group.id``) and read the partitions it assigns to this member.

        ``on_assign(consumer, partitions)`` runs inside poll() when partitions are assigned
        (it may call assign() with other offsets); ``on_revoke(consumer, partitions)`` before
        they are taken away (commit there); ``on_lost(consumer, partitions)`` when the member
        was removed from the group and its partitions may already belong to another member
        (``on_revoke`` is called instead if ``on_lost`` is not given).
        """
        self._check_open()
        self._coordinator.subscribe(
            topics, on_assign, on_revoke, on_lost, lambda: self._auto_commit(force=True)
        )

    def unsubscribe(self) -> None:
        """Give the partitions back (committing them with enable.auto.commit) and leave."""
        self._check_open()
        self._coordinator.unsubscribe()

    def memberid(self) -> str | None:
        """This consumer's member id in its group (None when not a group member)."""
        return self._coordinator.member_id()

    # -- offsets ------------------------------------------------------------------------------

    def _committed_offsets(self, keys: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """Where the fetcher starts a partition assigned without an offset."""
        return self._coordinator.committed_offsets(keys)

    def _log(self, topic: str, partition: int):
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
        self._coordinator.require_group("committed")
        keys = [(tp.topic, tp.partition) for tp in partitions]
        found = self._coordinator.committed_offsets(keys)
        return [TopicPartition(t, p, found.get((t, p), OFFSET_INVALID)) for t, p in keys]

    def store_offsets(self, message: Message | None = None, offsets: list | None = None) -> None:
        """Mark offsets to be committed by the next commit (with enable.auto.offset.store=false)."""
        self._check_open()
        if message is not None:
            self._fetcher.store(message.topic(), message.partition(), message.offset() + 1)
        for tp in offsets or []:
            self._fetcher.store(tp.topic, tp.partition, tp.offset)

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
        self._coordinator.require_group("commit")
        if message is not None:
            todo = {(message.topic(), message.partition()): message.offset() + 1}
        elif offsets is not None:
            todo = {(tp.topic, tp.partition): tp.offset for tp in offsets}
        else:
            todo = self._fetcher.to_commit()
            if not todo:
                raise KafkaException(KafkaError(KafkaError._NO_OFFSET, "Local: No offset stored"))
        self._do_commit(todo)
        result = [TopicPartition(t, p, o) for (t, p), o in todo.items()]
        return None if asynchronous else result

    def _do_commit(self, todo: dict[tuple[str, int], int]) -> None:
        error = None
        try:
            self._coordinator.commit_offsets(todo)
        except Exception as exc:
            error = exc
        if error is None:
            self._fetcher.committed(todo)
        if self._on_commit is not None:
            err = None if error is None else KafkaError(KafkaError._STATE, str(error))
            self._on_commit(err, [TopicPartition(t, p, o) for (t, p), o in todo.items()])
        if error is not None:
            if isinstance(error, KafkaException):
                raise error
            raise KafkaException(KafkaError(_error_code(error), str(error))) from error

    def _auto_commit(self, force: bool = False) -> None:
        if not (self._coordinator.group_id and self._enable_auto_commit):
            return
        now = time.monotonic()
        if not force and now - self._last_auto_commit < self._auto_commit_interval_s:
            return
        self._last_auto_commit = now
        todo = self._fetcher.to_commit()
        if todo:
            try:
                self._do_commit(todo)
            except KafkaException as exc:
                # The group moved on (this member was removed, or a rebalance is under way):
                # like librdkafka, report it to on_commit only; the next poll rejoins.
                if exc.args[0].code() not in GROUP_MOVED_ON:
                    raise

    # -- reading ------------------------------------------------------------------------------

    def _poll_loop(self, timeout: float | None, attempt, *args):
        """Run ``attempt(*args)`` at every poll round until it returns something to hand out
        (a list), or until ``timeout`` seconds have passed (None or negative: forever).

        ``attempt`` returns None when nothing is available yet (the loop sleeps, a little
        longer each idle round) or ``AGAIN`` to go round again at once.
        """
        self._check_open()
        if timeout is not None and timeout < 0:
            timeout = None
        deadline = None if timeout is None else time.monotonic() + timeout
        sleep = _IDLE_SLEEP_MIN_S
        while True:
            self._coordinator.tick()
            self._auto_commit()
            result = attempt(*args)
            if result is AGAIN:
                sleep = _IDLE_SLEEP_MIN_S
                continue
            if result is not None:
                return result
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return []
            pause = sleep if deadline is None else min(sleep, deadline - now)
            time.sleep(max(pause, 0))
            sleep = min(sleep * 2, _IDLE_SLEEP_MAX_S)

    def _collect(self, wanted: int, timeout: float | None) -> list[Message]:
        messages = self._poll_loop(timeout, self._fetcher.messages_round, [], wanted)
        return self._coordinator.verify(messages)

    def poll(self, timeout: float | None = None) -> Message | None:
        """The next message (or error event), waiting up to ``timeout`` seconds (None: forever)."""
        batch = self._collect(1, timeout)
        return batch[0] if batch else None

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Message]:
        """Up to ``num_messages`` messages, waiting up to ``timeout`` seconds for the first one.

        Returns as soon as nothing more is available right now (confluent-kafka waits for the
        whole ``timeout`` to fill the batch)."""
        if not 1 <= num_messages <= 1_000_000:
            raise ValueError("num_messages must be between 1 and 1000000")
        return self._collect(num_messages, None if timeout is None or timeout < 0 else timeout)

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

    def _records_round(self, max_records: int) -> list | None:
        out = self._fetcher.records_round(max_records)
        return None if out is None else self._coordinator.verify(out)

    # -- metadata and lifecycle ---------------------------------------------------------------

    def list_topics(self, topic: str | None = None, timeout: float = -1):
        """Cluster metadata (topics and partitions), as AdminClient.list_topics returns it."""
        return AdminClient({"data.dir": str(self._data_dir)}).list_topics(topic, timeout)

    def close(self) -> None:
        """Commit (with enable.auto.commit), leave the group, release the store."""
        if self._closed:
            return
        try:
            self._auto_commit(force=True)
        finally:
            try:
                self._coordinator.leave()
            finally:
                self._closed = True
                self._store.close()

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _error_code(exc: Exception) -> int:
    return kafka_error_code(exc, default=KafkaError._STATE)
