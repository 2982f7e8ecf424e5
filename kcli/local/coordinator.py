"""A Consumer's side of its group (Kafka's ``ConsumerCoordinator``): subscribe, the rebalance
callbacks, committed offsets.

The group's rebalance protocol, eager or cooperative (see ``storage.group_protocols``): a
background thread heartbeats (``kcli.local.group_member.GroupMember``); revoking and assigning
happen in the application's thread, inside ``poll()``/``consume()``, where the rebalance
callbacks run as in confluent-kafka, and where fetching happens: before every fetch the
consumer asks :meth:`GroupMember.fetch_allowed`.
"""

from __future__ import annotations

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
from kcli.local.group_member import GroupMember
from storage.assignors import COOPERATIVE_STICKY, UnknownAssignor, parse_strategy
from storage.group_protocols import incremental_change
from storage.groups import GroupError, GroupStore


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
