"""Cooperative incremental rebalancing (KIP-429) over the wire: confluent-kafka consumers with
``cooperative-sticky`` against ``kcli serve``.  The clients run the protocol themselves (the
leader assigns; members rejoin owning less after revoking); the coordinator must relay their
owned partitions and start the follow-up rebalance when a member rejoins with fewer."""

from __future__ import annotations

import threading
import time

from confluent_kafka import Consumer as CkConsumer

from storage import Store
from tests.waiting import wait_for

PARTITIONS = 4
TIMEOUT_S = 90


class _Member:
    """A confluent-kafka consumer polling in a thread, recording its callbacks' increments."""

    def __init__(self, bootstrap: str, topic: str, group: str, name: str):
        self.events: list[tuple[str, set[int], float]] = []
        self._stop = threading.Event()
        self._consumer = CkConsumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "client.id": name,
                "partition.assignment.strategy": "cooperative-sticky",
                "session.timeout.ms": 6000,
                "heartbeat.interval.ms": 500,
                "auto.offset.reset": "earliest",
            }
        )
        self._consumer.subscribe(
            [topic],
            on_assign=lambda c, ps: self._record("assigned", ps),
            on_revoke=lambda c, ps: self._record("revoked", ps),
        )
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _record(self, kind: str, partitions) -> None:
        self.events.append((kind, {tp.partition for tp in partitions}, time.time()))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._consumer.poll(0.1)
        self._consumer.close()

    def owned(self, events=None) -> set[int]:
        mine: set[int] = set()
        for kind, parts, _t in self.events if events is None else events:
            mine = mine | parts if kind == "assigned" else mine - parts
        return mine

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)


def test_confluent_cooperative_join_revokes_only_what_moves(server):
    store = Store(server.data_dir)
    topic, group = "coop-orders", "coop-billing"
    store.create_topic(topic, PARTITIONS)
    store.close()
    a = _Member(server.bootstrap, topic, group, "member-a")
    b = None
    try:
        wait_for(
            lambda: a.owned() == set(range(PARTITIONS)), timeout=TIMEOUT_S, what="a to own all"
        )
        mark = len(a.events)
        b = _Member(server.bootstrap, topic, group, "member-b")
        wait_for(
            lambda: (
                len(a.owned()) == len(b.owned()) == PARTITIONS // 2
                and a.owned() | b.owned() == set(range(PARTITIONS))
            ),
            timeout=TIMEOUT_S,
            what="two partitions each",
        )
        later = a.events[mark:]
        revoked = set().union(*(parts for kind, parts, _t in later if kind == "revoked"))
        # a gave up exactly the two partitions b now has, and nothing it kept.
        assert revoked == b.owned()
        assert not revoked & a.owned()
        first_revoke = min(t for kind, parts, t in later if kind == "revoked" and parts)
        first_given = min(t for kind, parts, t in b.events if kind == "assigned" and parts)
        assert first_revoke <= first_given
    finally:
        a.stop()
        if b is not None:
            b.stop()
