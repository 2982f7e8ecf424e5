"""Replication with real processes and a real client: acks=all and min.insync.replicas, the
ISR shrinking and growing, unclean leader election and what it loses."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from tests.cluster.clients import error_name, produce_one, producer, read_partition

pytestmark = pytest.mark.slow


def test_acks_all_with_min_isr_two_survives_one_loss_not_two(make_cluster):
    c = make_cluster(3, "min.insync.replicas=2")
    c.create_topic("t", 1, 3)
    p = producer(c.bootstrap)
    acked = []
    for i in range(5):
        error, offset = produce_one(p, "t", f"a{i}".encode())
        assert error is None
        acked.append(offset)
    first = c.partition("t", 0)["leader"]
    c.kill(first)
    # Writes continue: the client finds the new leader by itself.
    error, offset = produce_one(p, "t", b"after-one-kill")
    assert error is None, error
    after = c.wait_partition("t", 0, lambda q: len(q["isr"]) == 2 and q["leader"] != first)
    assert first not in after["isr"] and after["leader_epoch"] >= 1
    second = after["leader"]
    c.kill(second)
    c.wait_partition("t", 0, lambda q: len(q["isr"]) == 1 and q["leader"] not in (first, second))
    strict = producer(c.bootstrap, retries=0)
    error, _ = produce_one(strict, "t", b"refused")
    assert error_name(error) == "NOT_ENOUGH_REPLICAS"
    c.restart(first)
    c.wait_partition("t", 0, lambda q: len(q["isr"]) == 2)
    error, _ = produce_one(p, "t", b"resumed")
    assert error is None
    c.restart(second)
    # Status reads high watermarks from the brokers' checkpoints (written each second): wait
    # for the seven acknowledged records to be below it.
    final = c.wait_partition("t", 0, lambda q: len(q["isr"]) == 3 and q["high_watermark"] == 7)
    values = [v for _, v in read_partition(c.bootstrap, "t", 0, final["high_watermark"])]
    assert values == [b"a0", b"a1", b"a2", b"a3", b"a4", b"after-one-kill", b"resumed"]


def test_a_paused_follower_leaves_the_isr_after_the_lag_time_and_returns(make_cluster):
    # A session timeout much longer than replica.lag.time.max.ms, so that it is the leader's
    # lag check that removes the follower, not the controller fencing it.
    c = make_cluster(3, "broker.session.timeout.ms=20000", "replica.lag.time.max.ms=1500")
    c.create_topic("t", 1, 3)
    p = producer(c.bootstrap)
    assert produce_one(p, "t", b"x")[0] is None
    state = c.partition("t", 0)
    follower = next(r for r in state["replicas"] if r != state["leader"])
    c.kcli("cluster", "pause", str(follower))
    paused_at = time.monotonic()
    shrunk = c.wait_partition("t", 0, lambda q: follower not in q["isr"], timeout_s=15)
    waited = time.monotonic() - paused_at
    assert waited >= 1.0, waited  # not before replica.lag.time.max.ms (give or take a poll)
    broker = next(b for b in c.status()["brokers"] if b["id"] == follower)
    assert broker["state"] == "paused" and broker["fenced"] is False  # still registered
    assert shrunk["leader"] == state["leader"] and shrunk["leader_epoch"] == state["leader_epoch"]
    assert (
        "not caught up for replica.lag.time.max.ms=1500"
        in (c.data_dir / "cluster" / f"broker-{state['leader']}.log").read_text()
    )
    for i in range(3):
        assert produce_one(p, "t", f"while-paused-{i}".encode())[0] is None
    c.kcli("cluster", "resume", str(follower))
    back = c.wait_partition("t", 0, lambda q: follower in q["isr"], timeout_s=20)
    assert back["log_end_offsets"][str(follower)] == back["log_end_offsets"][str(back["leader"])]


def _lose_a_tail(c, topic: str) -> tuple[int, int, list[bytes], list[bytes]]:
    """Two brokers, RF 2: the follower dies, the leader acknowledges a tail alone, then dies
    too.  Returns (old leader, follower, records both had, the tail only the leader had)."""
    c.create_topic(topic, 1, 2)
    p = producer(c.bootstrap)
    both = [f"{topic}-both-{i}".encode() for i in range(5)]
    for v in both:
        assert produce_one(p, topic, v)[0] is None
    state = c.wait_partition(topic, 0, lambda q: q["high_watermark"] == 5)
    leader = state["leader"]
    follower = next(r for r in state["replicas"] if r != leader)
    c.kill(follower)
    c.wait_partition(topic, 0, lambda q: q["isr"] == [leader])
    tail = [f"{topic}-only-leader-{i}".encode() for i in range(3)]
    for v in tail:
        assert produce_one(p, topic, v)[0] is None  # acks=all: the ISR is the leader alone
    c.kill(leader)
    c.wait_partition(topic, 0, lambda q: q["leader"] == -1)
    c.restart(follower)
    return leader, follower, both, tail


def test_unclean_leader_election_off_then_on_and_exactly_what_is_lost(make_cluster):
    c = make_cluster(2, "min.insync.replicas=1")
    leader, follower, both, tail = _lose_a_tail(c, "t")
    # unclean.leader.election.enable=false: the only in-sync replica is down, so the partition
    # stays offline even though the other replica is alive.
    time.sleep(2.0)
    state = c.partition("t", 0)
    assert state["leader"] == -1 and state["isr"] == [leader]
    # An explicit unclean election brings it back, without the tail only the old leader had.
    c.kcli("cluster", "elect-leaders", "--unclean", "t")
    state = c.wait_partition("t", 0, lambda q: q["leader"] == follower)
    assert state["isr"] == [follower]
    assert [v for _, v in read_partition(c.bootstrap, "t", 0, 5)] == both
    # The old leader comes back, truncates the divergent tail and follows: the tail is gone
    # from every replica, and new records take its offsets.
    c.restart(leader)
    p = producer(c.bootstrap)
    assert produce_one(p, "t", b"new")[0] is None
    state = c.wait_partition("t", 0, lambda q: len(q["isr"]) == 2 and q["high_watermark"] == 6)
    assert state["log_end_offsets"] == {str(leader): 6, str(follower): 6}
    assert [v for _, v in read_partition(c.bootstrap, "t", 0, 6)] == [*both, b"new"]
    assert c.replica_bytes(leader, "t", 0, 6) == c.replica_bytes(follower, "t", 0, 6)
    log = (c.data_dir / "cluster" / f"broker-{leader}.log").read_text()
    assert "truncated the divergent tail 5..7" in log

    # With unclean.leader.election.enable=true the controller does it by itself.
    c.kcli("cluster", "stop")
    c.start("unclean.leader.election.enable=true")
    leader, follower, both, tail = _lose_a_tail(c, "u")
    state = c.wait_partition("u", 0, lambda q: q["leader"] == follower, timeout_s=20)
    assert state["isr"] == [follower]
    assert [v for _, v in read_partition(c.bootstrap, "u", 0, 5)] == both


def test_min_insync_replicas_as_a_topic_config_overrides_the_brokers(make_cluster):
    """The brokers' default is 1; a topic that sets 2 refuses acks=all once one replica is left,
    the other topic on the same brokers does not, and altering the config takes effect at once."""
    c = make_cluster(3)
    c.create_topic("strict", 1, 3, "min.insync.replicas=2")
    c.create_topic("lenient", 1, 3)
    p = producer(c.bootstrap)
    for topic in ("strict", "lenient"):
        assert produce_one(p, topic, b"before")[0] is None
    survivor = c.partition("strict", 0)["replicas"][0]
    for node in {1, 2, 3} - {survivor}:
        c.kill(node)
    for topic in ("strict", "lenient"):
        c.wait_partition(topic, 0, lambda q: q["isr"] == [survivor] and q["leader"] == survivor)
    strict = producer(c.bootstrap, retries=0)
    error, _ = produce_one(strict, "strict", b"refused")
    assert error_name(error) == "NOT_ENOUGH_REPLICAS"
    assert produce_one(strict, "lenient", b"accepted")[0] is None
    c.kcli(
        "--bootstrap-server",
        c.bootstrap,
        "topic",
        "alter",
        "strict",
        "--config",
        "min.insync.replicas=1",
        data_dir=False,
    )
    assert produce_one(strict, "strict", b"after-alter")[0] is None
    values = [v for _, v in read_partition(c.bootstrap, "strict", 0, 2)]
    assert values == [b"before", b"after-alter"]


def test_a_follower_copies_the_sections_its_leaders_cleaner_compacted(make_cluster):
    """A compacted topic: while a follower is down its leader cleans; back, the follower
    copies the cleaned log at the leader's offsets (gaps and all) and rejoins the ISR."""
    from storage import Store

    c = make_cluster(3)
    c.create_topic(
        "users",
        1,
        3,
        "cleanup.policy=compact",
        "segment.bytes=1500",
        "min.cleanable.dirty.ratio=0.01",
    )
    p = producer(c.bootstrap, **{"linger.ms": 5, "batch.num.messages": 10})

    def send(first, count):
        for i in range(first, first + count):
            p.produce("users", f"v{i}".encode(), key=f"k{i % 5}".encode(), partition=0)
        p.flush(30)

    def records(broker):
        store = Store(c.data_dir / "cluster" / f"broker-{broker}", create=False)
        try:
            log = store.log("users", 0)
            return [(r.offset, r.key, r.value) for r in log.read_records(0, max_records=10**6)]
        finally:
            store.close()

    send(0, 50)
    state = c.partition("users", 0)
    follower = next(r for r in state["replicas"] if r != state["leader"])
    c.kill(follower)
    c.wait_partition("users", 0, lambda q: follower not in q["isr"])
    send(50, 400)
    leader = c.wait_partition("users", 0, lambda q: q["high_watermark"] == 450)["leader"]
    cleaned = records(leader)
    assert cleaned[-1][0] == 449 and len(cleaned) < 450  # the leader's cleaner ran
    c.restart(follower)
    c.wait_partition("users", 0, lambda q: sorted(q["isr"]) == [1, 2, 3])
    copied = records(follower)
    # Each record at the offset it was produced at, and every key's latest value there.
    assert all(v == f"v{o}".encode() for o, _k, v in copied)
    latest = {f"k{j}".encode(): f"v{445 + j}".encode() for j in range(5)}
    assert {k: v for _o, k, v in copied} == latest



def test_acks_all_keeps_up_across_elections_and_restarts(make_cluster):
    """A producer sending acks=all writes without linger (about 600 a second over six
    partitions) while leaderships move back and forth: preferred elections, and a broker
    stopped (controlled shutdown) and restarted.  No write fails or times out, and every
    acknowledged record is in its partition once, at the offset it was acknowledged with, and
    no broker answered REQUEST_TIMED_OUT."""
    c = make_cluster(3)
    c.create_topic("t", 6, 3)
    # Broker 1 restarted: the others lead everything until a preferred election.
    c.kill(1)
    c.wait_for(lambda s: all(p["leader"] != 1 for p in s["partitions"] if p["topic"] == "t"))
    c.restart(1)
    c.wait_for(lambda s: all(len(p["isr"]) == 3 for p in s["partitions"] if p["topic"] == "t"))
    # Idempotent, so that a write retried after a broker closed its connection unanswered is
    # not stored twice.
    p = producer(c.bootstrap, **{"linger.ms": 0, "enable.idempotence": True})
    acked: dict[int, dict[int, bytes]] = {partition: {} for partition in range(6)}
    failed: list[str] = []
    stop = threading.Event()

    def delivered(error, msg):
        if error is not None:
            failed.append(f"{msg.partition()}: {error.name()}")
        else:
            acked[msg.partition()][msg.offset()] = msg.value()

    def send():
        tick = time.monotonic()
        for seq in itertools.count():
            if stop.is_set():
                return
            for partition in range(6):
                p.produce("t", f"{seq}".encode(), partition=partition, on_delivery=delivered)
            tick += 0.01
            while (wait := tick - time.monotonic()) > 0:
                p.poll(wait)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        time.sleep(1)
        for _ in range(2):
            c.kcli("cluster", "elect-leaders", "--preferred")
            time.sleep(2)
            c.kcli("cluster", "stop", "1")
            c.restart(1)
            c.wait_for(
                lambda s: all(len(q["isr"]) == 3 for q in s["partitions"] if q["topic"] == "t")
            )
        c.kcli("cluster", "elect-leaders", "--preferred")
        time.sleep(2)
    finally:
        stop.set()
        sender.join()
        remaining = p.flush(60)
    assert remaining == 0
    assert not failed, (len(failed), failed[:5])
    logs = c.logs(5000)
    assert "REQUEST_TIMED_OUT" not in logs
    for partition, records in acked.items():
        assert len(records) > 100, partition
        back = read_partition(c.bootstrap, "t", partition, max(records) + 1)
        values = [v for _, v in back]
        assert len(values) == len(set(values)), f"partition {partition} holds duplicates"
        stored = dict(back)
        assert {o: stored.get(o) for o in records} == records, partition
