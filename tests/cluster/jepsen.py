"""A Jepsen-style trial: an idempotent acks=all producer writes continuously to a topic with
replication factor 3 and min.insync.replicas 2 while a random broker is killed with SIGKILL
and restarted, round after round.  Then every acknowledged record must be read back exactly
once and in order per partition, and every replica's log must be byte-identical to the
leader's up to the high watermark.  Used by tests/cluster/test_jepsen.py (20 rounds) and
benchmarks/soak_cluster.py (200)."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

from tests.cluster.clients import producer, read_partition
from tests.cluster.harness import LocalCluster

TOPIC = "jepsen"
PARTITIONS = 3
CONFIG = ("min.insync.replicas=2",)


@dataclass
class TrialResult:
    rounds: int
    sent: int
    acked: int
    failed: int
    read: int
    seconds: float
    problems: list[str] = field(default_factory=list)


class _Writer(threading.Thread):
    """Sends "n" to partition n % PARTITIONS until told to stop; remembers what was acked."""

    def __init__(self, bootstrap: str):
        super().__init__(daemon=True)
        self.p = producer(
            bootstrap,
            **{"enable.idempotence": True, "message.timeout.ms": 120_000, "linger.ms": 5},
        )
        self.stop = threading.Event()
        self.acked: dict[int, list[tuple[int, bytes]]] = {p: [] for p in range(PARTITIONS)}
        self.failed: list[str] = []
        self.sent = 0

    def _report(self, error, msg) -> None:
        if error is None:
            self.acked[msg.partition()].append((msg.offset(), msg.value()))
        else:
            self.failed.append(f"{msg.value()!r}: {error.name()}")

    def run(self) -> None:
        while not self.stop.is_set():
            value = str(self.sent).encode()
            try:
                self.p.produce(
                    TOPIC, value, partition=self.sent % PARTITIONS, on_delivery=self._report
                )
            except BufferError:
                self.p.poll(0.1)
                continue
            self.sent += 1
            self.p.poll(0)
            time.sleep(0.004)
        self.p.flush(180)


def _converged(status: dict):
    parts = [p for p in status["partitions"] if p["topic"] == TOPIC]
    ok = all(
        p["leader"] > 0
        and len(p["isr"]) == 3
        and len(set(p["log_end_offsets"].values())) == 1
        and p["high_watermark"] == next(iter(p["log_end_offsets"].values()))
        for p in parts
    )
    return parts if ok and len(parts) == PARTITIONS else None


def run_trial(c: LocalCluster, rounds: int, seed: int = 0, say=lambda s: None) -> TrialResult:
    """Run ``rounds`` kill/restart rounds against a started cluster (min.insync.replicas=2)."""
    rng = random.Random(seed)
    c.create_topic(TOPIC, PARTITIONS, 3)
    started = time.monotonic()
    writer = _Writer(c.bootstrap)
    writer.start()
    for r in range(rounds):
        victim = rng.randint(1, c.brokers)
        c.kill(victim)
        time.sleep(rng.uniform(0.1, 1.0))
        c.restart(victim)
        # Back in every ISR before the next loss: with min.insync.replicas 2, losing a second
        # broker while one is still catching up would (rightly) stop acks=all writes.
        c.wait_for(
            lambda s: all(len(p["isr"]) == 3 for p in s["partitions"] if p["topic"] == TOPIC),
            timeout_s=60,
            what=f"round {r}: broker {victim} back in every ISR",
        )
        say(
            f"round {r + 1}/{rounds}: killed and restarted broker {victim}; "
            f"{sum(len(a) for a in writer.acked.values())} acknowledged so far"
        )
    writer.stop.set()
    writer.join(200)
    parts = c.wait_for(_converged, timeout_s=60, what="convergence")
    result = TrialResult(
        rounds=rounds,
        sent=writer.sent,
        acked=sum(len(a) for a in writer.acked.values()),
        failed=len(writer.failed),
        read=0,
        seconds=time.monotonic() - started,
    )
    problems = result.problems
    problems += [f"not acknowledged: {f}" for f in writer.failed[:10]]
    for p in parts:
        n, hw = p["partition"], p["high_watermark"]
        records = read_partition(c.bootstrap, TOPIC, n, hw)
        result.read += len(records)
        values = [v for _, v in records]
        if len(set(values)) != len(values):
            problems.append(f"partition {n}: duplicates in what was read back")
        acked = sorted(writer.acked[n])
        by_value = {v: o for o, v in records}
        for offset, value in acked:
            if by_value.get(value) != offset:
                problems.append(
                    f"partition {n}: acknowledged {value!r} at offset {offset}, read back at "
                    f"{by_value.get(value)}"
                )
                break
        order = [int(v) for v in values]
        if order != sorted(order):
            problems.append(f"partition {n}: records out of order")
        if any(int(v) % PARTITIONS != n for v in values):
            problems.append(f"partition {n}: a record of another partition")
        leader_bytes = c.replica_bytes(p["leader"], TOPIC, n, hw)
        for r in p["replicas"]:
            if c.replica_bytes(r, TOPIC, n, hw) != leader_bytes:
                problems.append(f"partition {n}: replica {r} differs from leader {p['leader']}")
    return result
