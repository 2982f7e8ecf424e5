"""Demo: a real cluster of broker processes: leaders, followers, a broker killed and catching up.

The demo starts a ``kcli cluster`` of its own (a controller and N broker processes,
docs/cluster.md) in a temporary directory on free ports, creates a topic over it and runs
kcli's producer against it with acks=all.  It kills one broker with SIGKILL, waits for the
controller to fence it and move its leaderships (with bumped leader epochs), restarts it,
and watches it catch up and rejoin the ISR; a preferred leader election then gives it its
partitions back.  What it shows is read from the cluster as ``kcli cluster status`` reads
it, and at the end every acknowledged record is looked up in every replica's log.

The cluster is deleted when the demo ends, fails or is interrupted: its processes are
killed, its directory removed.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from rich.console import Group
from rich.text import Text

from kcli import Producer
from kcli.demos._common import DemoContext, Pacer, heading, live_view, summary
from kcli.demos._demo_cluster import DemoCluster
from kcli.errors import KcliError
from kcli.remote.backend import confluent

TOPIC = "demo-cluster"
RATE = 200  # records per second


def _configs(ctx: DemoContext, replication_factor: int) -> dict[str, str]:
    """The broker configs the demo changes from Kafka's defaults, to keep its waits short."""
    return {
        "broker.session.timeout.ms": "2000" if ctx.fast else "6000",
        "broker.heartbeat.interval.ms": "250" if ctx.fast else "1000",
        # acks=all then needs two copies of each record: one broker down, writes go on.
        "min.insync.replicas": str(max(1, replication_factor - 1)),
        "offsets.topic.num.partitions": "1",  # no consumer groups here
    }


class _Producer:
    """kcli's producer on the cluster, acks=all, writing at a steady rate from a thread; it
    keeps where each acknowledged record went."""

    def __init__(self, bootstrap_servers: str, rate: float):
        self._p = Producer(
            {
                "bootstrap.servers": bootstrap_servers,
                "acks": "all",
                "client.id": "demo-cluster-producer",
                # Retry through a leader change (kcli's commands give up after 5 retries).
                "retries": 1_000_000,
                "retry.backoff.ms": 100,
                "message.timeout.ms": 60_000,
                "enable.idempotence": True,  # a retried record is written once
            }
        )
        self.rate = rate
        self.acked: dict[tuple[int, int], bytes] = {}  # (partition, offset) -> value
        self.failed = 0
        self.last_error = ""
        self.down: set[int] | None = None  # while a broker is down: the partitions it led
        self.while_down = 0
        self.on_led = 0  # acknowledged while down, on the partitions the dead broker led
        self.error: Exception | None = None  # what stopped the producing thread, if anything
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._sent = 0

    def _report(self, err, msg) -> None:
        if err is not None:
            self.failed += 1
            self.last_error = str(err)
            return
        self.acked[(msg.partition(), msg.offset())] = msg.value()
        if self.down is not None:
            self.while_down += 1
            self.on_led += msg.partition() in self.down

    def _run(self) -> None:
        try:
            self._produce()
        except Exception as exc:  # shown by finish(), in the main thread
            self.error = exc

    def _produce(self) -> None:
        pacer = Pacer(self.rate)
        while not self._stop.is_set():
            pacer.wait()
            value = f"record {self._sent}".encode()
            while True:
                try:
                    self._p.produce(TOPIC, value, on_delivery=self._report)
                    break
                except BufferError:  # the client's queue is full: let it deliver
                    self._p.poll(0.1)
            self._sent += 1
            self._p.poll(0)

    def start(self) -> None:
        self._thread.start()

    @property
    def waiting(self) -> int:
        return self._sent - len(self.acked) - self.failed

    def finish(self, timeout_s: float) -> None:
        """Stop producing and wait for the acknowledgements of what was sent."""
        self._stop.set()
        self._thread.join()
        if self.error is not None:
            raise KcliError(f"the demo's producer stopped: {self.error}")
        left = self._p.flush(timeout_s)
        if left:
            raise KcliError(
                f"{left} records were still not acknowledged {timeout_s:.0f} s after the "
                f"producer stopped ({self.last_error or 'no error reported'})"
            )

    def abandon(self) -> None:
        """Stop at once (the demo is ending on an error or Ctrl-C): nothing is waited for."""
        self._stop.set()
        self._thread.join(5)


def _topic(status: dict) -> list[dict]:
    return [p for p in status["partitions"] if p["topic"] == TOPIC]


def _per_broker(brokers: int, parts: list[dict], key) -> str:
    counts = {b: 0 for b in range(1, brokers + 1)}
    for p in parts:
        for b in key(p):
            counts[b] += 1
    return ", ".join(f"{b}: {n}" for b, n in counts.items())


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _changes(before: list[dict], after: list[dict], partitions: list[int]) -> str:
    """``p1 leader 2 → 3, epoch 0 → 1; ...`` for ``partitions``."""
    old = {p["partition"]: p for p in before}
    return "; ".join(
        f"p{p['partition']} leader {old[p['partition']]['leader']} → {p['leader']}, epoch "
        f"{old[p['partition']]['leader_epoch']} → {p['leader_epoch']}"
        for p in after
        if p["partition"] in partitions
    )


@dataclass
class _Facts:
    """What the demo measured, for its summary."""

    brokers: int
    replication_factor: int
    session_ms: int
    pids: list[int]
    placed: list[dict]  # the topic's partitions once created
    victim: int
    fenced_s: float = 0.0
    moved: list[dict] = field(default_factory=list)  # after the victim's leaderships moved
    behind: int = 0  # records the victim lacked when it restarted
    rejoined_s: float = 0.0
    given_back: int = 0
    preferred: list[dict] = field(default_factory=list)  # after the preferred election
    last: list[dict] = field(default_factory=list)  # at the end
    missing: int = 0

    @property
    def led(self) -> list[int]:
        return [p["partition"] for p in self.placed if p["leader"] == self.victim]

    @property
    def hosted(self) -> list[int]:
        return [p["partition"] for p in self.placed if self.victim in p["replicas"]]


def _lines(f: _Facts, producer: _Producer, gone: bool) -> list[str]:
    """The summary, each line stating only what was measured."""
    v, acked = f.victim, len(producer.acked)
    stored = sum(p["log_end_offsets"][str(p["leader"])] for p in f.last)
    epochs = {p["partition"]: p["leader_epoch"] for p in f.placed}
    bumped = all(
        p["leader_epoch"] > epochs[p["partition"]] for p in f.moved if p["partition"] in f.led
    )
    moved = (
        f"given its {_count(len(f.led), 'leadership')} to in-sync followers with "
        f"{'bumped' if bumped else 'the same'} leader epochs: "
        f"{_changes(f.placed, f.moved, f.led)}"
        if f.led
        else "it led no partition"
    )
    return [
        f"{f.brokers} brokers and a controller ran as processes of their own (pids "
        f"{', '.join(map(str, f.pids))}) in a temporary directory",
        f"Kafka's placement of {_count(len(f.placed), 'partition')} with replication factor "
        f"{f.replication_factor}: leaders per broker "
        f"{_per_broker(f.brokers, f.placed, lambda p: [p['leader']])}; replicas per broker "
        f"{_per_broker(f.brokers, f.placed, lambda p: p['replicas'])}",
        f"broker {v} was killed with SIGKILL; {f.fenced_s:.1f} s later the controller had "
        f"fenced it (broker.session.timeout.ms={f.session_ms}), taken it out of the ISR of its "
        f"{_count(len(f.hosted), 'partition')} and {moved}",
        f"producing with acks=all "
        f"{'carried on' if producer.while_down else 'stopped'}: {producer.while_down} records "
        f"were acknowledged while broker {v} was down, {producer.on_led} of them on the "
        f"partitions it had led, by their new leaders",
        f"broker {v} restarted {f.behind} records behind, caught up by fetching from the "
        f"leaders and rejoined the ISR of its {_count(len(f.hosted), 'partition')} "
        f"{f.rejoined_s:.1f} s after its restart",
        f"once the producer had stopped, a preferred leader election gave broker {v} back "
        f"{_count(f.given_back, 'leadership')}: "
        f"{_changes(f.moved, f.preferred, f.led) or 'none'}",
        (
            "nothing acknowledged was lost: "
            if f.missing == 0
            else f"{f.missing} acknowledged records are missing from some replica: "
        )
        + f"{acked - f.missing} of the {acked} acknowledged records ({producer.failed} failed) "
        f"are in each of the {f.replication_factor} replicas of their partition, at the offset "
        f"the producer was given; the topic holds {stored} records"
        + (
            ": each acknowledged record once (an idempotent producer's retries are not "
            "written twice)"
            if stored == acked
            else ""
        ),
        f"the cluster was deleted at the end: its {f.brokers + 1} processes killed, its "
        f"directory removed"
        if gone
        else "the cluster's processes or directory could not all be removed",
    ]


def run(
    ctx: DemoContext, *, brokers: int = 4, partitions: int = 8, replication_factor: int = 3
) -> list[str]:
    """Start a cluster, produce to it with acks=all, kill a broker, bring it back."""
    if replication_factor > brokers:
        raise KcliError(
            f"a replication factor of {replication_factor} needs at least {replication_factor} "
            f"brokers; use --brokers {replication_factor} or more, or --replication-factor "
            f"{brokers}"
        )
    confluent()  # the producer needs confluent-kafka: say so before any process starts
    configs = _configs(ctx, replication_factor)
    session_ms = int(configs["broker.session.timeout.ms"])
    heading(
        ctx,
        "A real cluster",
        f"Starting {brokers} broker processes and a controller (kcli cluster) in a temporary "
        f"directory, on free ports. Shortened for the demo: broker.session.timeout.ms="
        f"{session_ms} (Kafka's default: 9000).",
    )
    with DemoCluster(brokers, configs) as cluster:
        started = cluster.start()
        wait_s = 30.0 + 5 * session_ms / 1000
        cluster.create_topic(TOPIC, partitions, replication_factor)
        first = cluster.wait_for(
            lambda s: (
                len(_topic(s)) == partitions
                and all(p["leader"] > 0 and len(p["isr"]) == replication_factor for p in _topic(s))
            ),
            wait_s,
            f"topic {TOPIC} to have a leader and {replication_factor} in-sync replicas per "
            f"partition",
        )
        placed = _topic(first)
        facts = _Facts(
            brokers,
            replication_factor,
            session_ms,
            pids=[b["pid"] for b in first["brokers"]],
            placed=placed,
            # The leader of partition 1 (broker 2): it also follows partitions it does not lead.
            victim=placed[min(1, partitions - 1)]["leader"],
        )
        heading(
            ctx,
            f"Topic {TOPIC}: {partitions} partitions, replication factor {replication_factor}",
            f"Brokers on 127.0.0.1:{started.port}..{started.port + brokers - 1}, data in "
            f"{cluster.directory}. kcli's producer writes {RATE} records/s with acks=all "
            f"(min.insync.replicas={configs['min.insync.replicas']}); then broker "
            f"{facts.victim} is killed with SIGKILL.",
        )
        producer = _Producer(started.bootstrap_servers, RATE)
        try:
            _story(ctx, cluster, producer, facts, wait_s)
        except BaseException:
            producer.abandon()
            raise
        facts.missing = cluster.missing_records(TOPIC, producer.acked, facts.last)
    lines = _lines(facts, producer, cluster.gone())
    summary(ctx, lines)
    return lines


def _story(
    ctx: DemoContext, cluster: DemoCluster, producer: _Producer, f: _Facts, wait_s: float
) -> None:
    """Produce; kill the victim; let it be fenced; restart it; let it catch up; elect the
    preferred leaders; fill in ``f`` on the way."""
    v, rf = f.victim, f.replication_factor
    phase_s = ctx.duration(4.0, 1.0)
    state = {"phase": "all brokers up"}

    def render():
        line = Text.assemble(
            (f"producer (acks=all): {len(producer.acked)} acknowledged", "green"),
            f", {producer.failed} failed, {producer.waiting} waiting",
        )
        return Group("", Text(state["phase"], style="bold"), line, "", cluster.view())

    def plain():
        leaders = " ".join(f"p{p['partition']}:{p['leader']}" for p in _topic(cluster.snapshot()))
        return f"{state['phase']}: leaders {leaders}; {len(producer.acked)} acknowledged"

    def wait(what: str, predicate) -> list[dict]:
        return _topic(cluster.wait_for(lambda s: predicate(_topic(s)), wait_s, what))

    with live_view(ctx, render, plain) as refresh:
        producer.start()
        time.sleep(phase_s)
        producer.down = set(f.led)
        cluster.kill(v)
        killed_at = time.monotonic()
        state["phase"] = (
            f"broker {v} killed (SIGKILL): acks=all waits until the controller fences it"
        )
        cluster.snapshot(fresh=True)  # the table shows it killed with the line above
        refresh()
        f.moved = wait(
            f"broker {v}'s leaderships to move",
            lambda parts: all(p["leader"] != v and v not in p["isr"] for p in parts),
        )
        f.fenced_s = time.monotonic() - killed_at
        state["phase"] = f"broker {v} is down; its partitions have new leaders"
        time.sleep(phase_s)
        f.behind = sum(
            p["log_end_offsets"].get(str(p["leader"]), 0) - p["log_end_offsets"].get(str(v), 0)
            for p in _topic(cluster.snapshot(fresh=True))
            if p["partition"] in f.hosted
        )
        state["phase"] = f"broker {v} restarted: catching up from the leaders"
        refresh()
        restarted_at = time.monotonic()
        cluster.restart(v)
        producer.down = None
        wait(
            f"broker {v} to rejoin the ISR",
            lambda parts: all(v in p["isr"] for p in parts if v in p["replicas"]),
        )
        f.rejoined_s = time.monotonic() - restarted_at
        state["phase"] = f"broker {v} is in sync again"
        time.sleep(phase_s)
        producer.finish(wait_s)
        # Only now: an acks=all request waiting on a leader that steps down is not answered
        # until its timeout (request.timeout.ms), which would stall the producer.
        state["phase"] = "producer stopped; preferred leader election"
        f.given_back = cluster.elect_preferred(TOPIC)
        f.preferred = wait(
            "the preferred leaders",
            lambda parts: all(p["leader"] == p["replicas"][0] for p in parts),
        )
        state["phase"] = "every partition led by its first replica again"
        f.last = wait(
            "every replica to reach its high watermark",
            lambda parts: all(
                len(p["log_end_offsets"]) == rf
                and len(set(p["log_end_offsets"].values())) == 1
                and p["high_watermark"] == p["log_end_offsets"][str(p["leader"])]
                for p in parts
            ),
        )
        refresh()
