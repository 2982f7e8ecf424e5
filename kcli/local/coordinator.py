"""A Consumer's group: membership (join, heartbeat, rebalance, leave) and the consumer's side
of it (subscribe, rebalance callbacks, committed offsets).

The group's state lives in the store (``storage.groups``).  A background thread keeps the
member alive, as librdkafka's does: it heartbeats every ``heartbeat.interval.ms`` and, between
heartbeats, glances at the group's state file every few milliseconds (no lock, and only a
``stat`` unless the file changed) so that a rebalance is noticed at once, and a member that
missed its session timeout is removed as soon as it expires.

The thread never touches the consumer's partitions.  Revoking and assigning happen in the
application's thread, inside ``poll()``/``consume()``, where the rebalance callbacks run and
where fetching happens: before every fetch the consumer asks :meth:`GroupMember.fetch_allowed`,
so a member that has been asked to give its partitions up stops reading them before anyone
else can be given them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from kcli.client.config import as_int
from kcli.client.error_codes import kafka_error_code
from kcli.client.types import (
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
    error_message,
)
from kcli.local.fetcher import Fetcher
from storage.assignors import COOPERATIVE_STICKY, UnknownAssignor, parse_strategy
from storage.group_protocols import COOPERATIVE, incremental_change, member_protocol
from storage.groups import FencedInstanceId, GroupError, GroupStore, UnknownMemberId

# How often the thread looks at the group's state between heartbeats.
WATCH_INTERVAL_S = 0.02


class GroupMember:
    """One consumer's membership in one group: join, the heartbeat thread, rejoin, leave
    (used by ``ConsumerCoordinator``)."""

    def __init__(
        self,
        groups,
        group: str,
        *,
        topics: Sequence[str],
        assignors: Sequence[str],
        client_id: str,
        session_timeout_ms: int,
        heartbeat_interval_ms: int,
        rebalance_timeout_ms: int,
        instance_id: str | None = None,
    ):
        self.groups = groups  # storage.groups.GroupStore
        self.group = group
        self.topics = list(topics)
        self.assignors = list(assignors)
        self.client_id = client_id
        self.session_timeout_ms = session_timeout_ms
        self.heartbeat_interval_s = heartbeat_interval_ms / 1000
        self.rebalance_timeout_ms = rebalance_timeout_ms
        # group.instance.id: a static member (KIP-345) keeps its place across restarts.
        self.instance_id = instance_id
        # Cooperative (KIP-429): keep the partitions while the group rebalances.
        self.cooperative = member_protocol(self.assignors) == COOPERATIVE
        self._mu = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.member_id: str = ""
        # Generation of the assignment the consumer is using (-1: none yet).
        self.generation = -1
        self.assignor = ""
        # Generation the member last (re)joined in: an assignment of a later one is new.
        self._joined_generation = -1
        self._waiting = False
        self._pending: tuple[int, tuple[tuple[str, int], ...]] | None = None
        self._rebalance = False
        self._lost = False
        self._fenced: Exception | None = None
        self._error: Exception | None = None
        self._last_ok = 0.0  # monotonic start time of the last successful join/heartbeat
        self._epoch = 0  # number of (re)joins, to tell stale views apart
        self._next_heartbeat = 0.0

    # -- the application's thread ------------------------------------------------------------

    def start(self) -> None:
        """Join the group and start heartbeating."""
        self._join(owned=())
        self._thread = threading.Thread(
            target=self._run, name=f"kcli-heartbeat-{self.group}", daemon=True
        )
        self._thread.start()

    def fetch_allowed(self) -> bool:
        """True while the member may read its assigned partitions.

        Eager: False once a rebalance asks for them back.  Cooperative: the member keeps reading
        what it owns while the group rebalances.  Either: False once the member was removed,
        and once its last successful heartbeat is a session timeout old (it may have been
        removed already).
        """
        with self._mu:
            if self._lost:
                return False
            if not self.cooperative and (self._rebalance or self._waiting):
                return False
            return (time.monotonic() - self._last_ok) * 1000 < self.session_timeout_ms

    def still_member(self) -> bool:
        """False if this member has been removed from the group; asks the group (a locked
        heartbeat) only when its last heartbeat is a session timeout old."""
        with self._mu:
            if self._lost:
                return False
            if (time.monotonic() - self._last_ok) * 1000 < self.session_timeout_ms:
                return True
        self._heartbeat()
        with self._mu:
            return not self._lost

    def must_revoke(self) -> str | None:
        """ "rebalance", "lost", "fenced" or None: what the consumer must do before reading on
        (a cooperative member told "rebalance" rejoins without revoking)."""
        with self._mu:
            if self._fenced is not None:
                return "fenced"
            if self._lost:
                return "lost"
            if self._rebalance:
                return "rebalance"
        if (time.monotonic() - self._last_ok) * 1000 >= self.session_timeout_ms:
            # The heartbeat thread has not been heard from for a whole session: find out now.
            self._heartbeat()
            with self._mu:
                if self._fenced is not None:
                    return "fenced"
                if self._lost:
                    return "lost"
                if self._rebalance:
                    return "rebalance"
        return None

    def take_error(self) -> Exception | None:
        with self._mu:
            error, self._error = self._error, None
            return error

    def take_fenced(self) -> Exception | None:
        """The FencedInstanceId error once another consumer took this group.instance.id."""
        with self._mu:
            return self._fenced

    def rejoin(self, owned: Sequence[tuple[str, int]] = ()) -> None:
        """Rejoin (as a new member if this one was removed).

        Eager: called once the consumer has revoked all its partitions.  Cooperative: called
        with the partitions the consumer still ``owned``; if the member turns out to have been
        removed meanwhile, it does not rejoin but is marked lost, so that the consumer gives
        those partitions up first (they may belong to another member by now).
        """
        with self._mu:
            lost = self._lost
            if not self.cooperative or lost:
                self.generation = -1
            if lost:
                self.member_id = ""
                owned = ()
        try:
            self._join(owned=owned)
        except FencedInstanceId as exc:
            with self._mu:
                self._fenced = exc
                self._lost = True
        except UnknownMemberId:
            if self.cooperative and owned:
                with self._mu:
                    self._lost = True
                return
            # Removed between the last heartbeat and now: come back as a new member.
            self.member_id = ""
            self.generation = -1
            self._join(owned=())

    def request_rejoin(self) -> None:
        """Cooperative: the consumer revoked partitions; rejoin owning less, which starts the
        follow-up rebalance that hands them to their new owners."""
        with self._mu:
            self._rebalance = True

    def take_assignment(self) -> tuple[int, tuple[tuple[str, int], ...]] | None:
        """The new generation and this member's partitions, once the rebalance completed."""
        with self._mu:
            pending, self._pending = self._pending, None
            if pending is not None:
                self._waiting = False
                self.generation = pending[0]
            return pending

    def update_topics(self, topics: Sequence[str]) -> None:
        """A new subscription: rejoin with it (the group rebalances)."""
        with self._mu:
            self.topics = list(topics)
            self._rebalance = True

    def leave(self) -> None:
        """Stop heartbeating and leave the group cleanly.

        A static member does not leave (as in Kafka's clients): it stays in the group, its
        partitions waiting for it, until it comes back or its session times out.
        """
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        if self.member_id and not self.instance_id and self._fenced is None:
            try:
                self.groups.leave_group(self.group, self.member_id)
            except Exception:  # noqa: BLE001 - leaving is best effort, like LeaveGroup
                pass
        self.member_id = ""

    # -- both threads ------------------------------------------------------------------------

    def _join(self, owned: Sequence[tuple[str, int]] = ()) -> None:
        started = time.monotonic()
        view = self.groups.join_group(
            self.group,
            topics=self.topics,
            assignors=self.assignors,
            client_id=self.client_id,
            member_id=self.member_id,
            session_timeout_ms=self.session_timeout_ms,
            rebalance_timeout_ms=self.rebalance_timeout_ms,
            instance_id=self.instance_id,
            # What a cooperative member owns goes with its subscription (KIP-429).
            owned=list(owned) if self.cooperative else None,
            owned_generation=self.generation,
        )
        with self._mu:
            self._epoch += 1
            self.member_id = view.member_id
            self._last_ok = started
            self._next_heartbeat = started + self.heartbeat_interval_s
            # A join that completed the rebalance already carries the new generation's
            # assignment; otherwise the assignment comes with a later generation.
            if view.assignment is None:
                self._joined_generation = view.generation
            else:
                self._joined_generation = view.generation - 1
            self._waiting = True
            self._rebalance = False
            self._lost = False
            self._pending = None
            self._absorb(view)

    def _heartbeat(self) -> None:
        with self._mu:
            member_id, epoch = self.member_id, self._epoch
        if not member_id:
            return
        started = time.monotonic()
        try:
            view = self.groups.heartbeat(self.group, member_id, self.instance_id)
        except FencedInstanceId as exc:
            with self._mu:
                if epoch == self._epoch:
                    self._fenced = exc
                    self._lost = True
                self._next_heartbeat = started + self.heartbeat_interval_s
            return
        except UnknownMemberId:
            with self._mu:
                if epoch == self._epoch:
                    self._lost = True
                self._next_heartbeat = started + self.heartbeat_interval_s
            return
        with self._mu:
            if epoch == self._epoch:
                self._last_ok = started
            self._next_heartbeat = started + self.heartbeat_interval_s
            self._absorb(view, epoch)

    def _absorb(self, view, epoch: int | None = None) -> None:
        """Take in what a join, heartbeat or peek said (called with ``_mu`` held).

        ``epoch`` is the join count when the view was read: a view read before the latest
        (re)join is stale and would ask for a rebalance that has already been answered.
        """
        if epoch is not None and epoch != self._epoch:
            return
        if view.rejoin_needed:
            self._rebalance = True
        if (
            self._waiting
            and view.assignment is not None
            and view.generation > self._joined_generation
        ):
            self._pending = (view.generation, view.assignment)
            self.assignor = view.assignor

    # -- the heartbeat thread ----------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.wait(WATCH_INTERVAL_S):
            try:
                self._tick()
            except Exception as exc:  # noqa: BLE001 - report to the app, keep heartbeating
                with self._mu:
                    self._error = exc
                self._stop.wait(min(1.0, self.heartbeat_interval_s))

    def _tick(self) -> None:
        with self._mu:
            member_id, epoch = self.member_id, self._epoch
        if not member_id:
            return
        if time.monotonic() >= self._next_heartbeat:
            self._heartbeat()
            return
        view, due = self.groups.peek(self.group, member_id)
        if view is None or due:
            # Gone from the file, or some member is past its timeout: a locked heartbeat
            # does the coordinator's work (or tells us we were removed).
            self._heartbeat()
            return
        with self._mu:
            self._absorb(view, epoch)


# -- the consumer's side: subscribe, rebalance callbacks, group commits ---------------------------
#
# The group's rebalance protocol, eager or cooperative (see storage.group_protocols): a
# background thread heartbeats (GroupMember above); revoking and assigning happen in the
# application's thread, inside poll()/consume(), where the rebalance callbacks run as in
# confluent-kafka.


class ConsumerCoordinator:
    """A consumer's side of its group (Kafka's ``ConsumerCoordinator``): subscribe and
    unsubscribe, the rebalance callbacks run inside poll(), and the group's committed
    offsets.  It changes the consumer's assignment only through the consumer's ``Fetcher``.

    ``consumer`` is what the rebalance callbacks are given as their first argument;
    ``events`` the consumer's queue of event Messages.
    """

    def __init__(
        self,
        consumer,
        store,
        fetcher: Fetcher,
        events: list[Message],
        conf: dict,
        *,
        group_id: str | None,
        client_id: str,
    ):
        self._consumer = consumer
        self._store = store
        self._fetcher = fetcher
        self._events = events
        self.group_id = group_id
        self._client_id = client_id
        self._member: GroupMember | None = None
        self._groups: GroupStore | None = None
        self._subscription: list[str] = []
        self._on_assign = self._on_revoke = self._on_lost = None
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
        instance = conf.get("group.instance.id")
        if instance is not None and (not isinstance(instance, str) or not instance.strip()):
            raise KafkaException(
                KafkaError(
                    KafkaError._INVALID_ARG,
                    f"group.instance.id must be a non-empty string (got {instance!r}); leave it "
                    f"out for a dynamic member",
                )
            )
        self._instance_id = instance
        self._session_ms = session
        self._heartbeat_ms = heartbeat
        self._max_poll_ms = max_poll
        self._strategy = strategy

    @property
    def member(self) -> GroupMember | None:
        """The group membership while subscribed (None otherwise)."""
        return self._member

    def require_group(self, what: str) -> None:
        if not self.group_id:
            raise KafkaException(
                KafkaError(
                    KafkaError._INVALID_ARG,
                    f"{what}() needs a group: set group.id in the consumer config",
                )
            )

    def subscribe(self, topics: list[str], on_assign, on_revoke, on_lost, commit) -> None:
        """See Consumer.subscribe; ``commit()`` commits what was consumed (on revoke)."""
        self.require_group("subscribe")
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
        self._on_assign, self._on_revoke, self._on_lost = on_assign, on_revoke, on_lost
        self._commit = commit
        self._subscription = sorted(set(topics))
        for topic in self._subscription:
            if not self._store.topic_exists(topic):
                self._events.append(
                    error_message(
                        KafkaError(
                            KafkaError.UNKNOWN_TOPIC_OR_PART,
                            f"Subscribed topic not available: {topic}: Broker: Unknown topic "
                            f"or partition",
                        ),
                        topic,
                    )
                )
        if self._member is not None:
            self._member.update_topics(self._subscription)
            return
        self._fetcher.clear()
        member = GroupMember(
            self.groups(),
            self.group_id,
            topics=self._subscription,
            assignors=self._strategy,
            client_id=self._client_id,
            session_timeout_ms=self._session_ms,
            heartbeat_interval_ms=self._heartbeat_ms,
            rebalance_timeout_ms=self._max_poll_ms,
            instance_id=self._instance_id,
        )
        try:
            member.start()
        except GroupError as exc:
            raise KafkaException(KafkaError(kafka_error_code(exc), str(exc))) from None
        self._member = member

    def unsubscribe(self) -> None:
        """Give the partitions back (committing them with enable.auto.commit) and leave."""
        if self._member is None:
            return
        self._revoke(lost=False)
        self._member.leave()
        self._member = None
        self._subscription = []

    def member_id(self) -> str | None:
        m = self._member
        return m.member_id or None if m is not None else None

    def tick(self) -> None:
        """Called at every poll: revoke, rejoin and take a new assignment when the group says so."""
        m = self._member
        if m is None:
            return
        error = m.take_error()
        if error is not None:
            self._events.append(
                error_message(KafkaError(KafkaError._STATE, f"group {self.group_id}: {error}"))
            )
        what = m.must_revoke()
        if what == "fenced":
            # Fatal, as in librdkafka: another consumer has this group.instance.id now.
            self._revoke(lost=True)
            fenced = m.take_fenced()
            m.leave()
            self._member = None
            self._events.append(
                error_message(KafkaError(KafkaError.FENCED_INSTANCE_ID, str(fenced), fatal=True))
            )
            return
        if what == "rebalance" and m.cooperative:
            # An assignment that arrived before the next rebalance is taken first, so that
            # the rejoin reports what it revokes (as a SyncGroup response is handled before
            # the next JoinGroup); otherwise those partitions would wait one round more.
            got = m.take_assignment()
            if got is not None:
                self._take_increment(got[1])
        if what is not None:
            if m.cooperative and what == "rebalance":
                # Cooperative: keep reading what is still subscribed; rejoin saying so.
                self._revoke_some(
                    [
                        (tp.topic, tp.partition)
                        for tp in self._fetcher.assignment()
                        if tp.topic not in self._subscription
                    ]
                )
                owned = self._owned()
            else:
                self._revoke(lost=what == "lost")
                owned = []
            try:
                m.rejoin(owned)
            except GroupError as exc:
                raise KafkaException(KafkaError(kafka_error_code(exc), str(exc))) from None
        got = m.take_assignment()
        if got is not None:
            if m.cooperative:
                self._take_increment(got[1])
            else:
                self._take_assignment(got[1])

    def verify(self, items: list) -> list:
        """Hand out what was just read only if this member still owns its partitions.

        A process frozen (SIGSTOP, a laptop lid, a debugger) for longer than its session may
        have been removed from the group while it slept, between the check before its fetch
        and the fetch itself; its partitions may belong to another member by now.  Then the
        records are dropped (the new owner reads them from the committed offsets) and the
        partitions are given up as lost.
        """
        m = self._member
        if m is None or not items or m.still_member():
            return items
        self.tick()
        return [it for it in items if isinstance(it, Message) and it.error() is not None]

    def _take_assignment(self, tps) -> None:
        partitions = [TopicPartition(t, p) for t, p in tps]
        self._fetcher.clear()
        calls = self._fetcher.assign_calls
        if self._on_assign is not None:
            self._on_assign(self._consumer, partitions)
        if self._fetcher.assign_calls == calls:
            # The callback did not assign by itself: start from the committed offsets.
            self._fetcher.add(partitions)

    def _take_increment(self, tps) -> None:
        """Cooperative (``onJoinComplete``): revoke what is no longer ours, committing it
        first, and ask for the follow-up rebalance if anything was revoked; then add the new
        partitions.  ``on_revoke`` and ``on_assign`` are given the increments, as in
        confluent-kafka; ``on_assign`` is called after every rebalance, even with nothing."""
        revoked, added = incremental_change(self._owned(), [(t, p) for t, p in tps])
        if revoked:
            self._revoke_some(revoked)
            self._member.request_rejoin()
        partitions = [TopicPartition(t, p) for t, p in added]
        calls = self._fetcher.assign_calls
        if self._on_assign is not None:
            self._on_assign(self._consumer, partitions)
        if self._fetcher.assign_calls == calls:
            self._fetcher.add(partitions)

    def _owned(self) -> list[tuple[str, int]]:
        return [(tp.topic, tp.partition) for tp in self._fetcher.assignment()]

    def _revoke_some(self, keys: list[tuple[str, int]]) -> None:
        """Give up these partitions only (cooperative): commit them, then ``on_revoke``."""
        if not keys:
            return
        try:
            self._commit()
        except KafkaException:
            pass  # the group moved on already; on_commit has seen the error
        partitions = [TopicPartition(t, p) for t, p in keys]
        self._fetcher.remove(partitions)
        if self._on_revoke is not None:
            self._on_revoke(self._consumer, partitions)

    def _revoke(self, *, lost: bool) -> None:
        """Stop reading every assigned partition; commit first unless the member was removed."""
        if not lost:
            try:
                self._commit()
            except KafkaException:
                pass  # the group moved on already; on_commit has seen the error
        callback = self._on_lost if lost and self._on_lost is not None else self._on_revoke
        partitions = self._fetcher.clear()
        if callback is not None and partitions:
            callback(self._consumer, partitions)

    def leave(self) -> None:
        """Called by close(): revoke (on_revoke), then leave so the others rebalance at once."""
        m = self._member
        if m is None:
            return
        try:
            partitions = self._fetcher.clear()
            if self._on_revoke is not None and partitions:
                self._on_revoke(self._consumer, partitions)
        finally:
            m.leave()
            self._member = None

    def groups(self) -> GroupStore:
        """The consumer's one ``storage.groups.GroupStore``, made on first use."""
        if self._groups is None:
            self._groups = GroupStore(self._store)
        return self._groups

    def commit_offsets(self, offsets: dict[tuple[str, int], int]) -> None:
        groups = self.groups()
        m = self._member
        if m is None:
            groups.commit_offsets(self.group_id, offsets)
            return
        if m.generation < 0:
            raise KafkaException(
                KafkaError(
                    KafkaError.REBALANCE_IN_PROGRESS,
                    f"group {self.group_id} is rebalancing; commit after the next assignment",
                )
            )
        groups.commit_offsets(
            self.group_id,
            offsets,
            generation=m.generation,
            member_id=m.member_id,
            instance_id=m.instance_id,
        )

    def committed_offsets(self, keys: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        if not self.group_id:
            return {}
        found = self.groups().fetch_offsets(self.group_id, keys)
        # A negative committed offset (a Kafka client's -1/-2 marker) is no position: the
        # consumer starts from auto.offset.reset, as a Kafka consumer does.
        return {k: v.offset for k, v in found.items() if v.offset >= 0}
