# CORE READY: the group engineer may now add membership here (subscribe, _group_tick, _leave_group, memberid).
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
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from kcli.client.config import as_bool, as_int, check_keys, data_dir_of
from kcli.client.types import (
    OFFSET_BEGINNING,
    OFFSET_END,
    OFFSET_INVALID,
    OFFSET_STORED,
    TIMESTAMP_CREATE_TIME,
    TIMESTAMP_LOG_APPEND_TIME,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
    error_message,
)

# librdkafka's RD_KAFKA_OFFSET_TAIL_BASE: offset -2000 - N means "N records before the end".
OFFSET_TAIL_BASE = -2000

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

_RESET_EARLIEST = ("earliest", "smallest", "beginning")
_RESET_LATEST = ("latest", "largest", "end")

# How long an idle poll sleeps between looks at the log, growing up to the maximum.
_IDLE_SLEEP_MIN_S = 0.005
_IDLE_SLEEP_MAX_S = 0.1


def OFFSET_TAIL(n: int) -> int:  # noqa: N802 - librdkafka's name
    """The logical offset ``n`` records before the end of a partition."""
    return OFFSET_TAIL_BASE - n


@dataclass
class _PartitionState:
    """What the consumer knows about one assigned partition."""

    topic: str
    partition: int
    requested: int  # offset or logical offset asked for at assign/seek time
    fetch_position: int | None = None  # next offset to read from the log
    consumed: int | None = None  # offset of the last message returned, + 1
    stored: int | None = None  # offset to commit (consumed, unless stored by hand)
    committed_sent: int | None = None  # last offset committed, to skip no-op commits
    paused: bool = False
    eof_reported_at: int | None = None
    buffer: list = field(default_factory=list)
    buffer_pos: int = 0


class Consumer:
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

    # -- group membership: subscribe, rebalance, leave ------------------------------------------
    #
    # The group's eager rebalance protocol (see storage.groups): a background thread heartbeats
    # (kcli.client.membership); revoking and assigning happen here, in the application's thread,
    # inside poll()/consume(), where the rebalance callbacks run as in confluent-kafka.

    def _init_group(self) -> None:
        from kcli.client.membership import GroupMembership  # noqa: F401 - fail early if broken

        self._membership = None
        self._groups = None
        self._subscription: list[str] = []
        self._on_assign = self._on_revoke = self._on_lost = None
        self._assign_calls = 0
        conf = self._conf
        session = as_int(conf, "session.timeout.ms", 45000, minimum=1)
        if "heartbeat.interval.ms" in conf:
            heartbeat = as_int(conf, "heartbeat.interval.ms", 3000, minimum=1)
            if heartbeat >= session:
                raise KafkaException(
                    KafkaError(
                        KafkaError._INVALID_ARG,
                        f"heartbeat.interval.ms ({heartbeat}) must be lower than "
                        f"session.timeout.ms ({session}); a third of it is usual",
                    )
                )
        else:
            # Kafka's 3000 ms, unless the session is too short for three heartbeats.
            heartbeat = max(1, min(3000, session // 3))
        max_poll = as_int(conf, "max.poll.interval.ms", 300000, minimum=1)
        if max_poll < session:
            raise KafkaException(
                KafkaError(
                    KafkaError._INVALID_ARG,
                    f"max.poll.interval.ms ({max_poll}) must be >= session.timeout.ms ({session})",
                )
            )
        from storage.assignors import COOPERATIVE_STICKY, UnknownAssignor, parse_strategy

        try:
            strategy = parse_strategy(
                str(conf.get("partition.assignment.strategy", "range,roundrobin"))
            )
        except UnknownAssignor as exc:
            raise KafkaException(KafkaError(KafkaError._INVALID_ARG, str(exc))) from None
        if COOPERATIVE_STICKY in strategy and len(strategy) > 1:
            raise KafkaException(
                KafkaError(
                    KafkaError._INVALID_ARG,
                    "partition.assignment.strategy: cooperative-sticky cannot be combined with "
                    "eager assignors (range, roundrobin, sticky)",
                )
            )
        self._group_session_ms = session
        self._group_heartbeat_ms = heartbeat
        self._group_max_poll_ms = max_poll
        self._group_strategy = strategy

    def subscribe(self, topics: list[str], on_assign=None, on_revoke=None, on_lost=None) -> None:
        """Join the group (``group.id``) and read the partitions it assigns to this member.

        ``on_assign(consumer, partitions)`` runs inside poll() when partitions are assigned
        (it may call assign() with other offsets); ``on_revoke(consumer, partitions)`` before
        they are taken away (commit there); ``on_lost(consumer, partitions)`` when the member
        was removed from the group and its partitions may already belong to another member
        (``on_revoke`` is called instead if ``on_lost`` is not given).
        """
        self._check_open()
        self._require_group("subscribe")
        if (
            isinstance(topics, str)
            or not topics
            or not all(isinstance(t, str) and t for t in topics)
        ):
            raise KafkaException(
                KafkaError(KafkaError._INVALID_ARG, "subscribe() takes a non-empty list of topics")
            )
        patterns = [t for t in topics if t.startswith("^")]
        if patterns:
            raise KafkaException(
                KafkaError(
                    KafkaError._INVALID_ARG,
                    f"regex subscriptions ({', '.join(patterns)}) are not supported by kcli; "
                    f"list the topics by name",
                )
            )
        from kcli.client.membership import GroupMembership
        from storage.groups import GroupError, GroupStore

        self._on_assign, self._on_revoke, self._on_lost = on_assign, on_revoke, on_lost
        self._subscription = sorted(set(topics))
        for topic in self._subscription:
            if not self._store.topic_exists(topic):
                self._pending_errors.append(
                    error_message(
                        KafkaError(
                            KafkaError.UNKNOWN_TOPIC_OR_PART,
                            f"Subscribed topic not available: {topic}: Broker: Unknown topic "
                            f"or partition",
                        ),
                        topic,
                    )
                )
        if self._membership is not None:
            self._membership.update_topics(self._subscription)
            return
        self.unassign()
        if self._groups is None:
            self._groups = GroupStore(self._store)
        membership = GroupMembership(
            self._groups,
            self._group_id,
            topics=self._subscription,
            assignors=self._group_strategy,
            client_id=self._client_id,
            session_timeout_ms=self._group_session_ms,
            heartbeat_interval_ms=self._group_heartbeat_ms,
            rebalance_timeout_ms=self._group_max_poll_ms,
        )
        try:
            membership.start()
        except GroupError as exc:
            raise KafkaException(KafkaError(exc.error_code, str(exc))) from None
        self._membership = membership

    def unsubscribe(self) -> None:
        """Give the partitions back (committing them with enable.auto.commit) and leave."""
        self._check_open()
        if self._membership is None:
            return
        self._revoke(lost=False)
        self._membership.leave()
        self._membership = None
        self._subscription = []

    def memberid(self) -> str | None:
        """This consumer's member id in its group (None when not a group member)."""
        m = self._membership
        return m.member_id or None if m is not None else None

    def _group_tick(self) -> None:
        """Called at every poll: revoke, rejoin and take a new assignment when the group says so."""
        m = self._membership
        if m is None:
            return
        error = m.take_error()
        if error is not None:
            self._pending_errors.append(
                error_message(KafkaError(KafkaError._STATE, f"group {self._group_id}: {error}"))
            )
        what = m.must_revoke()
        if what is not None:
            self._revoke(lost=what == "lost")
            from storage.groups import GroupError

            try:
                m.rejoin()
            except GroupError as exc:
                raise KafkaException(KafkaError(exc.error_code, str(exc))) from None
        got = m.take_assignment()
        if got is not None:
            self._take_assignment(got[1])

    def _group_verify(self, items: list) -> list:
        """Hand out what was just read only if this member still owns its partitions.

        A process frozen (SIGSTOP, a laptop lid, a debugger) for longer than its session may
        have been removed from the group while it slept, between the check before its fetch
        and the fetch itself; its partitions may belong to another member by now.  Then the
        records are dropped (the new owner reads them from the committed offsets) and the
        partitions are given up as lost.
        """
        m = self._membership
        if m is None or not items or m.still_member():
            return items
        self._group_tick()
        return [it for it in items if isinstance(it, Message) and it.error() is not None]

    def _take_assignment(self, tps) -> None:
        partitions = [TopicPartition(t, p) for t, p in tps]
        self._assigned = {}
        self._order = []
        calls = self._assign_calls
        if self._on_assign is not None:
            self._on_assign(self, partitions)
        if self._assign_calls == calls:
            # The callback did not assign by itself: start from the committed offsets.
            self._add_partitions(partitions)

    def _revoke(self, *, lost: bool) -> None:
        """Stop reading every assigned partition; commit first unless the member was removed."""
        partitions = [TopicPartition(t, p) for t, p in self._order]
        if not lost:
            try:
                self._auto_commit(force=True)
            except KafkaException:
                pass  # the group moved on already; on_commit has seen the error
        callback = self._on_lost if lost and self._on_lost is not None else self._on_revoke
        self._assigned = {}
        self._order = []
        if callback is not None and partitions:
            callback(self, partitions)

    def _leave_group(self) -> None:
        """Called by close(): revoke (on_revoke), then leave so the others rebalance at once."""
        m = self._membership
        if m is None:
            return
        try:
            partitions = [TopicPartition(t, p) for t, p in self._order]
            self._assigned = {}
            self._order = []
            if self._on_revoke is not None and partitions:
                self._on_revoke(self, partitions)
        finally:
            m.leave()
            self._membership = None

    def _commit_to_store(self, offsets: dict[tuple[str, int], int]) -> None:
        from storage.groups import GroupStore

        if self._groups is None:
            self._groups = GroupStore(self._store)
        m = self._membership
        if m is None:
            self._groups.commit_offsets(self._group_id, offsets)
            return
        if m.generation < 0:
            raise KafkaException(
                KafkaError(
                    KafkaError.REBALANCE_IN_PROGRESS,
                    f"group {self._group_id} is rebalancing; commit after the next assignment",
                )
            )
        self._groups.commit_offsets(
            self._group_id, offsets, generation=m.generation, member_id=m.member_id
        )

    def _fetch_committed(self, keys: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        if not self._group_id:
            return {}
        from storage.groups import GroupStore

        found = GroupStore(self._store).fetch_offsets(self._group_id, keys)
        return {k: v.offset for k, v in found.items()}

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

    def _collect(self, wanted: int, timeout: float | None) -> list[Message]:
        self._check_open()
        if timeout is not None and timeout < 0:
            timeout = None
        deadline = None if timeout is None else time.monotonic() + timeout
        sleep = _IDLE_SLEEP_MIN_S
        out: list[Message] = []
        while True:
            self._group_tick()
            self._auto_commit()
            if self._pending_errors:
                out.append(self._pending_errors.pop(0))
                return out
            self._drain_buffers(out, wanted)
            if len(out) >= wanted:
                return out
            if self._fetch_round() and len(out) < wanted:
                sleep = _IDLE_SLEEP_MIN_S
                continue
            if out or self._pending_errors:
                if not out:
                    out.append(self._pending_errors.pop(0))
                return out
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return out
            pause = sleep if deadline is None else min(sleep, deadline - now)
            time.sleep(max(pause, 0))
            sleep = min(sleep * 2, _IDLE_SLEEP_MAX_S)

    def _drain_buffers(self, out: list[Message], wanted: int) -> None:
        n = len(self._order)
        for i in range(n):
            key = self._order[(self._rr + i) % n]
            st = self._assigned[key]
            if st.paused or st.buffer_pos >= len(st.buffer):
                continue
            take = st.buffer[st.buffer_pos : st.buffer_pos + wanted - len(out)]
            st.buffer_pos += len(take)
            if st.buffer_pos >= len(st.buffer):
                st.buffer = []
                st.buffer_pos = 0
            out.extend(take)
            st.consumed = take[-1][2] + 1
            if self._auto_offset_store:
                st.stored = st.consumed
            if len(out) >= wanted:
                self._rr = (self._rr + i) % n
                return
        if n:
            self._rr = (self._rr + 1) % n

    def _fetch_round(self) -> bool:
        """Read the next chunk of every assigned partition with an empty buffer.

        Returns True when anything (records or an event) became available.
        """
        got = False
        for key in list(self._order):
            st = self._assigned.get(key)
            if st is None or st.paused or st.buffer_pos < len(st.buffer):
                continue
            if self._fetch_partition(st):
                got = True
        return got

    def _log(self, topic: str, partition: int):
        from storage.errors import StorageError

        try:
            return self._store.log(topic, partition)
        except StorageError as exc:
            code = KafkaError.UNKNOWN_TOPIC_OR_PART
            raise KafkaException(KafkaError(code, str(exc))) from exc

    def _fetch_partition(self, st: _PartitionState) -> bool:
        from storage.errors import OffsetOutOfRange, StorageError

        try:
            log = self._store.log(st.topic, st.partition)
        except StorageError as exc:
            self._remove_with_error(st, KafkaError.UNKNOWN_TOPIC_OR_PART, str(exc))
            return True
        if st.fetch_position is None:
            position = self._start_position(st, log)
            if position is None:
                return True
            st.fetch_position = position
        try:
            fetched = log.read(st.fetch_position, self._max_partition_fetch_bytes)
        except OffsetOutOfRange as exc:
            position = self._reset_position(st, exc.log_start_offset, exc.log_end_offset, exc)
            if position is None:
                return True
            st.fetch_position = position
            return self._fetch_partition(st)
        data = fetched.records
        if not data:
            if self._partition_eof and st.eof_reported_at != st.fetch_position:
                st.eof_reported_at = st.fetch_position
                self._pending_errors.append(
                    error_message(
                        KafkaError(KafkaError._PARTITION_EOF, "Broker: No more messages"),
                        st.topic,
                        st.partition,
                        st.fetch_position,
                    )
                )
                return True
            return False
        messages = _decode_messages(data, st.topic, st.partition, st.fetch_position)
        if messages:
            st.buffer = messages
            st.buffer_pos = 0
            st.fetch_position = messages[-1][2] + 1
            return True
        # Only control batches or records below the position: move past them.
        st.fetch_position = _next_offset_after(data)
        return self._fetch_partition(st)

    def _start_position(self, st: _PartitionState, log) -> int | None:
        low, high = log.log_start_offset, log.log_end_offset
        requested = st.requested
        if requested == OFFSET_BEGINNING:
            return low
        if requested == OFFSET_END:
            return high
        if requested <= OFFSET_TAIL_BASE:
            return max(low, high - (OFFSET_TAIL_BASE - requested))
        if requested in (OFFSET_STORED, OFFSET_INVALID) or requested < 0:
            committed = self._fetch_committed([(st.topic, st.partition)]).get(
                (st.topic, st.partition)
            )
            if committed is not None and committed >= 0:
                if low <= committed <= high:
                    st.committed_sent = committed
                    return committed
                return self._reset_position(st, low, high, None)
            return self._reset_position(st, low, high, None)
        if low <= requested <= high:
            return requested
        return self._reset_position(st, low, high, None)

    def _reset_position(self, st: _PartitionState, low: int, high: int, exc) -> int | None:
        if self._auto_offset_reset in _RESET_EARLIEST:
            return low
        if self._auto_offset_reset in _RESET_LATEST:
            return high
        reason = (
            f"no valid offset for {st.topic} [{st.partition}] and auto.offset.reset=error "
            f"(valid offsets: {low}..{high})"
        )
        self._remove_with_error(st, KafkaError._AUTO_OFFSET_RESET, reason)
        return None

    def _remove_with_error(self, st: _PartitionState, code: int, reason: str) -> None:
        key = (st.topic, st.partition)
        if key in self._assigned:
            del self._assigned[key]
            self._order.remove(key)
        self._pending_errors.append(
            error_message(KafkaError(code, reason), st.topic, st.partition, st.fetch_position)
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
        self._check_open()
        if timeout is not None and timeout < 0:
            timeout = None
        deadline = None if timeout is None else time.monotonic() + timeout
        sleep = _IDLE_SLEEP_MIN_S
        while True:
            self._group_tick()
            self._auto_commit()
            out: list = []
            budget = max_records
            for key in list(self._order):
                st = self._assigned.get(key)
                if st is None or st.paused or st.buffer_pos >= len(st.buffer):
                    continue
                # Messages poll()/consume() buffered already come first: offset order holds.
                take = st.buffer[st.buffer_pos :]
                st.buffer, st.buffer_pos = [], 0
                out.append((st.topic, st.partition, [(m[2], m[4], m[5], m[6], m[7]) for m in take]))
                budget -= len(take)
                self._mark_consumed(st, take[-1][2] + 1)
            for key in list(self._order):
                st = self._assigned.get(key)
                if budget <= 0:
                    break
                if st is None or st.paused:
                    continue
                records = self._fetch_records(st, budget)
                if records:
                    out.append((st.topic, st.partition, records))
                    budget -= len(records)
            if self._pending_errors:
                out.extend(self._pending_errors)
                self._pending_errors.clear()
            if out:
                return self._group_verify(out)
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return out
            pause = sleep if deadline is None else min(sleep, deadline - now)
            time.sleep(max(pause, 0))
            sleep = min(sleep * 2, _IDLE_SLEEP_MAX_S)

    def _mark_consumed(self, st: _PartitionState, position: int) -> None:
        st.consumed = position
        if self._auto_offset_store:
            st.stored = position

    def _fetch_records(self, st: _PartitionState, budget: int) -> list | None:
        """Up to ``budget`` records of one partition from its fetch position (None: none)."""
        from storage.errors import OffsetOutOfRange, StorageError
        from storage.records import decode_batch, read_header

        try:
            log = self._store.log(st.topic, st.partition)
        except StorageError as exc:
            self._remove_with_error(st, KafkaError.UNKNOWN_TOPIC_OR_PART, str(exc))
            return None
        if st.fetch_position is None:
            position = self._start_position(st, log)
            if position is None:
                return None
            st.fetch_position = position
        while True:
            try:
                data = log.read(st.fetch_position, self._max_partition_fetch_bytes).records
            except OffsetOutOfRange as exc:
                position = self._reset_position(st, exc.log_start_offset, exc.log_end_offset, exc)
                if position is None:
                    return None
                st.fetch_position = position
                continue
            if not data:
                if self._partition_eof and st.eof_reported_at != st.fetch_position:
                    st.eof_reported_at = st.fetch_position
                    self._pending_errors.append(
                        error_message(
                            KafkaError(KafkaError._PARTITION_EOF, "Broker: No more messages"),
                            st.topic,
                            st.partition,
                            st.fetch_position,
                        )
                    )
                return None
            records: list = []
            pos, end = 0, len(data)
            while pos < end and len(records) < budget:
                size = read_header(data, pos).size
                records.extend(
                    decode_batch(
                        data[pos : pos + size],
                        min_offset=st.fetch_position,
                        max_records=budget - len(records),
                    )
                )
                pos += size
            if records:
                st.fetch_position = records[-1][0] + 1
                self._mark_consumed(st, st.fetch_position)
                return records
            # Only control batches or records below the position: move past them.
            st.fetch_position = _next_offset_after(data)

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


def _decode_messages(data: bytes, topic: str, partition: int, min_offset: int) -> list[Message]:
    from storage.constants import TIMESTAMP_TYPE_MASK
    from storage.records import decode_batch, read_header

    new = tuple.__new__
    out: list[Message] = []
    pos = 0
    end = len(data)
    while pos < end:
        header = read_header(data, pos)
        size = header.size
        ts_type = (
            TIMESTAMP_LOG_APPEND_TIME
            if header.attributes & TIMESTAMP_TYPE_MASK
            else TIMESTAMP_CREATE_TIME
        )
        records = decode_batch(data[pos : pos + size], min_offset=min_offset)
        out.extend(
            [
                new(Message, (topic, partition, r[0], ts_type, r[1], r[2], r[3], r[4], None))
                for r in records
            ]
        )
        pos += size
    return out


def _next_offset_after(data: bytes) -> int:
    from storage.records import read_header

    pos = 0
    header = None
    while pos < len(data):
        header = read_header(data, pos)
        pos += header.size
    return header.next_offset


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
        "TopicNotFound": KafkaError.UNKNOWN_TOPIC_OR_PART,
        "PartitionNotFound": KafkaError.UNKNOWN_TOPIC_OR_PART,
    }.get(name, KafkaError._STATE)
