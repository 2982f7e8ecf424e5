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

from rich.console import Group
from rich.text import Text

from kcli.demos._common import DemoContext, Pacer, heading, live_view, summary
from kcli.demos._demo_cluster import DemoCluster
from kcli.errors import KcliError

TOPIC = "demo-cluster"
VICTIM = 2  # the broker the demo kills: it leads partitions 1, N+1, ...
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
        from kcli import Producer

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


def _arrow(before: dict, after: dict) -> str:
    return (
        f"p{after['partition']} leader {before['leader']} → {after['leader']}, epoch "
        f"{before['leader_epoch']} → {after['leader_epoch']}"
    )


def run(
    ctx: DemoContext, *, brokers: int = 4, partitions: int = 8, replication_factor: int = 3
) -> list[str]:
    """Start a cluster, produce to it with acks=all, kill a broker, bring it back."""
    from kcli.remote.backend import confluent

    if replication_factor > brokers:
        raise KcliError(
            f"a replication factor of {replication_factor} needs at least {replication_factor} "
            f"brokers; use --brokers {replication_factor} or more, or --replication-factor "
            f"{brokers}"
        )
    confluent()  # the producer needs confluent-kafka: say so before any process starts
    configs = _configs(ctx, replication_factor)
    session_ms = int(configs["broker.session.timeout.ms"])
    phase_s = ctx.duration(4.0, 1.0)
    wait_s = 30.0 + 5 * session_ms / 1000

    heading(
        ctx,
        "A real cluster",
        f"Starting {brokers} broker processes and a controller (kcli cluster) in a temporary "
        f"directory, on free ports. Shortened for the demo: broker.session.timeout.ms="
        f"{session_ms} (Kafka's default: 9000).",
    )
    with DemoCluster(brokers, configs) as cluster:
        started = cluster.start()
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
        pids = [b["pid"] for b in first["brokers"]]
        placed = _topic(first)
        led = [p["partition"] for p in placed if p["leader"] == VICTIM]
        hosted = [p["partition"] for p in placed if VICTIM in p["replicas"]]
        heading(
            ctx,
            f"Topic {TOPIC}: {partitions} partitions, replication factor {replication_factor}",
            f"Brokers on 127.0.0.1:{started.port}..{started.port + brokers - 1}, data in "
            f"{cluster.directory}. kcli's "
            f"producer writes {RATE} records/s with acks=all (min.insync.replicas="
            f"{configs['min.insync.replicas']}); then broker {VICTIM} is killed with SIGKILL.",
        )
        producer = _Producer(started.bootstrap_servers, RATE)
        state = {"phase": "all brokers up"}

        def render():
            line = Text.assemble(
                (f"producer (acks=all): {len(producer.acked)} acknowledged", "green"),
                f", {producer.failed} failed, {producer.waiting} waiting",
            )
            return Group("", Text(state["phase"], style="bold"), line, "", cluster.view())

        def plain():
            parts = _topic(cluster.snapshot())
            leaders = " ".join(f"p{p['partition']}:{p['leader']}" for p in parts)
            return f"{state['phase']}: leaders {leaders}; {len(producer.acked)} acknowledged"

        try:
            with live_view(ctx, render, plain) as refresh:
                producer.start()
                time.sleep(phase_s)
                state["phase"] = (
                    f"broker {VICTIM} killed (SIGKILL): acks=all waits until the controller "
                    f"fences it"
                )
                producer.down = set(led)
                cluster.kill(VICTIM)
                killed_at = time.monotonic()
                refresh()
                moved = cluster.wait_for(
                    lambda s: all(
                        p["leader"] != VICTIM and VICTIM not in p["isr"] for p in _topic(s)
                    ),
                    wait_s,
                    f"broker {VICTIM}'s leaderships to move",
                )
                fenced_s = time.monotonic() - killed_at
                state["phase"] = f"broker {VICTIM} is down; its partitions have new leaders"
                time.sleep(phase_s)
                down = _topic(cluster.snapshot(fresh=True))
                behind = sum(
                    p["log_end_offsets"][str(p["leader"])] - p["log_end_offsets"][str(VICTIM)]
                    for p in down
                    if p["partition"] in hosted
                )
                state["phase"] = f"broker {VICTIM} restarted: catching up from the leaders"
                refresh()
                restarted_at = time.monotonic()
                cluster.restart(VICTIM)
                producer.down = None
                cluster.wait_for(
                    lambda s: all(VICTIM in p["isr"] for p in _topic(s) if VICTIM in p["replicas"]),
                    wait_s,
                    f"broker {VICTIM} to rejoin the ISR",
                )
                rejoined_s = time.monotonic() - restarted_at
                state["phase"] = f"broker {VICTIM} is in sync again"
                time.sleep(phase_s)
                producer.finish(wait_s)
                # After the producer stopped: a leader that steps down while an acks=all
                # request waits on it may leave that request to time out.
                state["phase"] = "producer stopped; preferred leader election"
                given_back = cluster.elect_preferred(TOPIC)
                preferred = cluster.wait_for(
                    lambda s: all(p["leader"] == p["replicas"][0] for p in _topic(s)),
                    wait_s,
                    "the preferred leaders",
                )
                state["phase"] = "every partition led by its first replica again"
                last = cluster.wait_for(
                    lambda s: all(
                        len(set(p["log_end_offsets"].values())) == 1
                        and len(p["log_end_offsets"]) == replication_factor
                        and p["high_watermark"] == p["log_end_offsets"][str(p["leader"])]
                        for p in _topic(s)
                    ),
                    wait_s,
                    "every replica to reach its high watermark",
                )
                refresh()
        except BaseException:
            producer.abandon()
            raise
        missing = cluster.missing_records(TOPIC, producer.acked, _topic(last))

    before = {p["partition"]: p for p in placed}
    after = {p["partition"]: p for p in _topic(moved)}
    failover = "; ".join(_arrow(before[p], after[p]) for p in led)
    back = "; ".join(
        _arrow(after[p["partition"]], p) for p in _topic(preferred) if p["partition"] in led
    )
    stored = sum(p["log_end_offsets"][str(p["leader"])] for p in _topic(last))
    lines = [
        f"{brokers} brokers and a controller ran as processes of their own (pids "
        f"{', '.join(map(str, pids))}) in a temporary directory",
        f"{partitions} partitions with replication factor {replication_factor} were placed as "
        f"Kafka places them: leaders per broker "
        f"{_per_broker(brokers, placed, lambda p: [p['leader']])}; replicas per broker "
        f"{_per_broker(brokers, placed, lambda p: p['replicas'])}",
        f"broker {VICTIM} was killed with SIGKILL; {fenced_s:.1f} s later the controller had "
        f"fenced it (broker.session.timeout.ms={session_ms}), taken it out of the ISR of its "
        f"{len(hosted)} partitions and given its {len(led)} leaderships to in-sync followers "
        f"with bumped leader epochs: {failover}",
        f"producing with acks=all carried on: {producer.while_down} records were acknowledged "
        f"while broker {VICTIM} was down, {producer.on_led} of them on the partitions it had "
        f"led, by their new leaders",
        f"broker {VICTIM} restarted {behind} records behind, caught up by fetching from the "
        f"leaders and rejoined the ISR of its {len(hosted)} partitions {rejoined_s:.1f} s "
        f"after its restart",
        f"once the producer had stopped, a preferred leader election gave broker {VICTIM} back "
        f"{given_back} leaderships: {back}",
        f"nothing acknowledged was lost: {len(producer.acked) - missing} of the "
        f"{len(producer.acked)} acknowledged records ({producer.failed} failed) are in all "
        f"{replication_factor} replicas of their partition, at the offset the producer was "
        f"given; the topic holds {stored} records: each acknowledged record once (an "
        f"idempotent producer's retries are not written twice)",
        f"the cluster was deleted at the end: its {brokers + 1} processes killed, its "
        f"directory removed",
    ]
    if not cluster.gone():
        lines[-1] = f"the cluster could not be deleted: see {cluster.directory}"
    summary(ctx, lines)
    return lines
