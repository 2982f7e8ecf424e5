"""The consumer adapter: kcli's Consumer API over confluent-kafka's Consumer.

A consumer without a group never commits (its librdkafka group id is a throwaway one).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from kcli.client.types import KafkaError, KafkaException, Message, TopicPartition
from kcli.remote.cluster_client import ClusterClient
from kcli.remote.groups import RemoteGroups
from kcli.remote.librdkafka import check_reports, kafka_error, kafka_exception

# kcli's choices for its clients (a --command-config or profile may still change them).
CONSUMER_DEFAULTS = {
    "auto.offset.reset": "earliest",  # as kcli's own Consumer
    "allow.auto.create.topics": False,
    # How long a broker may hold an empty fetch: the end of a partition is seen this soon.
    "fetch.wait.max.ms": 100,
}
# The assignors librdkafka implements.
_ASSIGNORS = ("range", "roundrobin", "cooperative-sticky")


class RemoteConsumer:
    """kcli's Consumer API over confluent-kafka's Consumer, for ``kcli consume`` and ``perf``.

    Without ``group.id`` it only reads what it is assigned and commits nothing (librdkafka
    gets a throwaway group id).  ``auto.offset.reset`` defaults to earliest, as kcli's
    Consumer does.  With ``cooperative-sticky`` or ``group.protocol=consumer`` the rebalance
    callbacks are given the whole assignment, as kcli's own Consumer gives it, not only the
    partitions that moved.
    """

    def __init__(self, cluster: ClusterClient, conf: Mapping[str, Any] | None = None):
        conf = dict(conf or {})
        self._cluster = cluster
        self._grouped = bool(conf.get("group.id"))
        if not self._grouped:
            conf["group.id"] = f"kcli-no-group-{uuid.uuid4().hex[:12]}"
            conf["enable.auto.commit"] = False
            conf["enable.auto.offset.store"] = False
        strategy = str(conf.get("partition.assignment.strategy", "range"))
        names = [s.strip() for s in strategy.split(",") if s.strip()]
        bad = [s for s in names if s not in _ASSIGNORS]
        if bad:
            raise KafkaException(
                KafkaError(
                    KafkaError._INVALID_ARG,
                    f"the '{bad[0]}' assignor is not available with a Kafka cluster through "
                    f"librdkafka; use one of: {', '.join(_ASSIGNORS)}",
                )
            )
        # The consumer protocol (KIP-848) hands out increments as cooperative rebalancing does.
        self._cooperative = (
            "cooperative-sticky" in names or str(conf.get("group.protocol")) == "consumer"
        )
        self._group_id = str(conf["group.id"])
        self._auto_commit = str(conf.get("enable.auto.commit", True)).lower() in ("true", "1")
        self._c = cluster.new_client("consumer", conf, CONSUMER_DEFAULTS)
        self._on_assign = self._on_revoke = self._on_lost = None
        self._closed = False

    # -- conversions --------------------------------------------------------------------

    def _ctp(self, tp):
        out = self._cluster.ck.TopicPartition(tp.topic, tp.partition, tp.offset)
        if getattr(tp, "metadata", None):
            out.metadata = tp.metadata
        return out

    @staticmethod
    def _ktp(tp):
        return TopicPartition(tp.topic, tp.partition, tp.offset)

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except self._cluster.ck.KafkaException as exc:
            raise kafka_exception(self._cluster.connection, exc) from None

    def _check(self) -> None:
        check_reports(self._cluster.errors)

    # -- assignment and groups ----------------------------------------------------------

    def assign(self, partitions: Sequence) -> None:
        self._call(self._c.assign, [self._ctp(tp) for tp in partitions])

    def incremental_assign(self, partitions: Sequence) -> None:
        self._call(self._c.incremental_assign, [self._ctp(tp) for tp in partitions])

    def incremental_unassign(self, partitions: Sequence) -> None:
        self._call(self._c.incremental_unassign, [self._ctp(tp) for tp in partitions])

    def unassign(self) -> None:
        self._call(self._c.unassign)

    def assignment(self) -> list:
        return sorted(self._ktp(tp) for tp in self._call(self._c.assignment))

    def subscribe(self, topics: list[str], on_assign=None, on_revoke=None, on_lost=None) -> None:
        """Join the group; the callbacks get this consumer and kcli TopicPartitions."""
        self._on_assign, self._on_revoke, self._on_lost = on_assign, on_revoke, on_lost
        kwargs = {"on_assign": self._assigned, "on_revoke": self._revoked}
        if on_lost is not None:
            kwargs["on_lost"] = self._lost
        self._call(self._c.subscribe, list(topics), **kwargs)

    def unsubscribe(self) -> None:
        self._call(self._c.unsubscribe)

    def _assigned(self, consumer, partitions) -> None:
        if self._cooperative:
            self._c.incremental_assign(partitions)
            partitions = list(
                {
                    (tp.topic, tp.partition): tp for tp in [*self._c.assignment(), *partitions]
                }.values()
            )
        if self._on_assign is not None:
            self._on_assign(self, sorted(self._ktp(tp) for tp in partitions))

    def _revoked(self, consumer, partitions) -> None:
        if self._on_revoke is not None:
            self._on_revoke(self, sorted(self._ktp(tp) for tp in partitions))
        if self._cooperative:
            self._c.incremental_unassign(partitions)
            gone = {(tp.topic, tp.partition) for tp in partitions}
            left = [tp for tp in self._c.assignment() if (tp.topic, tp.partition) not in gone]
            if left and self._on_assign is not None:
                self._on_assign(self, sorted(self._ktp(tp) for tp in left))

    def _lost(self, consumer, partitions) -> None:
        if self._on_lost is not None:
            self._on_lost(self, sorted(self._ktp(tp) for tp in partitions))

    def memberid(self) -> str | None:
        return self._c.memberid() if self._grouped else None

    # -- offsets ------------------------------------------------------------------------

    def get_watermark_offsets(self, partition, timeout: float | None = None, cached=False):
        """(log_start_offset, log_end_offset) of a partition."""
        t = self._cluster.timeout_s if timeout is None else timeout
        got = self._call(self._c.get_watermark_offsets, self._ctp(partition), t, cached)
        if got is None:
            raise self._cluster.timed_out(
                f"reading the offsets of {partition.topic}-{partition.partition}"
            )
        return got

    def offsets_for_times(self, partitions: Sequence, timeout: float | None = None) -> list:
        t = self._cluster.timeout_s if timeout is None else timeout
        found = self._call(self._c.offsets_for_times, [self._ctp(tp) for tp in partitions], t)
        return [self._ktp(tp) for tp in found]

    def position(self, partitions: Sequence) -> list:
        return [
            self._ktp(tp)
            for tp in self._call(self._c.position, [self._ctp(tp) for tp in partitions])
        ]

    def committed(self, partitions: Sequence, timeout: float | None = None) -> list:
        t = self._cluster.timeout_s if timeout is None else timeout
        got = self._call(self._c.committed, [self._ctp(tp) for tp in partitions], t)
        return [self._ktp(tp) for tp in got]

    def store_offsets(self, message=None, offsets: Sequence | None = None) -> None:
        """Mark offsets for the next commit; partitions no longer assigned are skipped, as
        kcli's Consumer skips them."""
        todo = list(offsets or [])
        if message is not None:
            todo.append(TopicPartition(message.topic(), message.partition(), message.offset() + 1))
        if not todo:
            return
        try:
            self._c.store_offsets(offsets=[self._ctp(tp) for tp in todo])
        except self._cluster.ck.KafkaException as exc:
            if exc.args[0].code() != KafkaError._STATE:  # unassigned meanwhile (a rebalance)
                raise kafka_exception(self._cluster.connection, exc) from None

    def commit(self, message=None, offsets: Sequence | None = None, asynchronous: bool = True):
        kwargs: dict[str, Any] = {"asynchronous": asynchronous}
        if message is not None:
            offsets = [self._ktp_of(message)]
        if offsets is not None:
            kwargs["offsets"] = [self._ctp(tp) for tp in offsets]
        got = self._call(self._c.commit, **kwargs)
        return None if got is None else [self._ktp(tp) for tp in got]

    @staticmethod
    def _ktp_of(message):
        return TopicPartition(message.topic(), message.partition(), message.offset() + 1)

    # -- reading ------------------------------------------------------------------------

    def _message(self, m):
        err = m.error()
        if err is not None:
            kerr = kafka_error(self._cluster.connection, err)
            return Message(m.topic(), m.partition(), m.offset(), 0, -1, None, None, None, kerr)
        ts_type, ts = m.timestamp()
        return Message(
            m.topic(), m.partition(), m.offset(), ts_type, ts, m.key(), m.value(), m.headers(), None
        )

    def poll(self, timeout: float | None = None):
        m = self._call(self._c.poll, -1 if timeout is None else timeout)
        self._check()
        return None if m is None else self._message(m)

    def _consume(self, num_messages: int, timeout: float | None) -> list:
        """Up to ``num_messages`` messages, returning as soon as any are there (librdkafka's
        consume() waits for all of them until the timeout)."""
        got = self._call(self._c.consume, num_messages, 0)
        if not got and timeout != 0:
            got = self._call(self._c.consume, 1, -1 if timeout is None else timeout)
            if got and num_messages > 1:
                got += self._call(self._c.consume, num_messages - 1, 0)
        self._check()
        return got

    def consume(self, num_messages: int = 1, timeout: float | None = -1) -> list:
        return [self._message(m) for m in self._consume(num_messages, timeout)]

    def consume_records(self, max_records: int = 100_000, timeout: float | None = -1) -> list:
        """kcli-only: records as ``(topic, partition, [(offset, timestamp, key, value,
        headers), ...])`` runs, events (end of partition ...) as error Messages."""
        got = self._consume(min(max_records, 1_000_000), timeout)
        out: list = []
        run: list | None = None
        where = None
        for m in got:
            if m.error() is not None:
                out.append(self._message(m))
                where = None
                continue
            here = (m.topic(), m.partition())
            if here != where:
                run = []
                out.append((here[0], here[1], run))
                where = here
            run.append((m.offset(), m.timestamp()[1], m.key(), m.value(), m.headers() or ()))
        return out

    def close(self) -> None:
        """Commit (with enable.auto.commit), leave the group, disconnect.

        Returns once the commit is acknowledged and the cluster no longer counts this
        consumer as a member, as kcli's own Consumer does: a ``kcli group describe`` or
        ``reset`` run right after sees the group as this consumer left it.
        """
        if self._closed:
            return
        self._closed = True
        member_id = self.memberid() if self._grouped else None
        if self._grouped and self._auto_commit:
            try:
                self._c.commit(asynchronous=False)
            except self._cluster.ck.KafkaException:
                pass  # nothing stored, or the group moved on: close() says the rest
        self._call(self._c.close)
        if member_id:
            RemoteGroups(self._cluster).wait_until_left(self._group_id, member_id)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
