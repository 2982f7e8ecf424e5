"""Demo: a SIMULATED Kafka cluster: leaders, followers, a broker failing and catching up.

kcli is a single node.  This demo models a cluster inside one process to show what a real
one does: each broker is a thread with its own log directory (``<data-dir>/demo-cluster/
broker-N/<topic>-<partition>/``, real kcli logs in Kafka's format) holding only the replicas
assigned to it.  Replicas are placed with Kafka's rack-unaware algorithm; followers copy the
leader's batches by fetching from their log-end offset, as Kafka followers do; a broker
fails, leadership moves to an in-sync replica, the broker returns and catches up, and a
preferred-leader election hands its partitions back.
"""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Group
from rich.table import Table
from rich.text import Text

from kcli.cluster.placement import assign_replicas
from kcli.demos._common import DemoContext, Pacer, heading, live_view, summary
from kcli.errors import KcliError

CLUSTER_DIR = "demo-cluster"


@dataclass
class _Partition:
    number: int
    replicas: list[int]
    leader: int
    isr: set[int] = field(default_factory=set)


class _Cluster:
    """Brokers as log directories plus the controller's view (leaders, in-sync replicas)."""

    def __init__(self, root: Path, topic: str, partitions: int, brokers: int, rf: int):
        from storage import TopicConfig
        from storage.log import Log
        from storage.segment import Segment

        self.topic = topic
        self.brokers = list(range(1, brokers + 1))
        self.up = {b: True for b in self.brokers}
        self.lock = threading.RLock()
        placement = assign_replicas(partitions, self.brokers, rf)
        self.partitions = [
            _Partition(p, replicas, replicas[0], set(replicas))
            for p, replicas in enumerate(placement)
        ]
        self.logs: dict[tuple[int, int], Log] = {}
        config = TopicConfig()
        for part in self.partitions:
            for b in part.replicas:
                d = root / f"broker-{b}" / f"{topic}-{part.number}"
                d.mkdir(parents=True)
                Segment(d, 0).create()
                self.logs[(b, part.number)] = Log(d, config, topic=topic, partition=part.number)
        self.leader_moves = 0

    def leo(self, broker: int, p: int) -> int:
        return self.logs[(broker, p)].log_end_offset

    def produce(self, p: int, records) -> bool:
        with self.lock:
            part = self.partitions[p]
            if not self.up[part.leader]:
                return False
            self.logs[(part.leader, p)].append_records(records, fsync=False)
            return True

    def fetch_round(self) -> int:
        """Every live follower fetches what it lacks from its partition's leader."""
        from storage.records import split_batches

        copied = 0
        for part in self.partitions:
            with self.lock:
                leader = part.leader
                if not self.up[leader]:
                    continue
                leader_log = self.logs[(leader, part.number)]
                for b in part.replicas:
                    if b == leader or not self.up[b]:
                        continue
                    follower = self.logs[(b, part.number)]
                    start = follower.log_end_offset
                    if start > leader_log.log_end_offset:
                        # Ahead of a new leader elected while it was catching up: Kafka would
                        # truncate it to the leader's high watermark; the demo lets it wait.
                        continue
                    data = leader_log.read(start, 1 << 20).records
                    if data:
                        follower.append(list(split_batches(data)), fsync=False)
                        copied += follower.log_end_offset - start
                    # In sync once caught up with the leader (replica.lag.time.max.ms, simplified).
                    if follower.log_end_offset == leader_log.log_end_offset:
                        part.isr.add(b)
        return copied

    def fail(self, broker: int) -> list[tuple[int, int]]:
        """The controller notices a dead broker: new leaders from the in-sync replicas."""
        moved = []
        with self.lock:
            self.up[broker] = False
            for part in self.partitions:
                part.isr.discard(broker)
                if part.leader == broker:
                    candidates = [b for b in part.replicas if b in part.isr and self.up[b]]
                    if candidates:
                        part.leader = candidates[0]
                        moved.append((part.number, part.leader))
                        self.leader_moves += 1
        return moved

    def restart(self, broker: int) -> None:
        with self.lock:
            self.up[broker] = True

    def preferred_election(self) -> list[int]:
        """Give each partition back to its preferred (first) replica when it is in sync."""
        back = []
        with self.lock:
            for part in self.partitions:
                preferred = part.replicas[0]
                if part.leader != preferred and preferred in part.isr and self.up[preferred]:
                    part.leader = preferred
                    back.append(part.number)
        return back

    def close(self) -> None:
        for log in self.logs.values():
            log.close()


def run(
    ctx: DemoContext, *, brokers: int = 4, topic: str | None = None, replication_factor: int = 3
) -> list[str]:
    """Lay out a topic over simulated brokers, fail one, bring it back."""
    partitions = 8
    name = "demo-cluster"
    if topic is not None:
        store = ctx.store()
        try:
            partitions = store.topic(topic).partitions
        finally:
            store.close()
        name = topic
    rf = min(replication_factor, brokers)
    if rf < replication_factor:
        raise KcliError(
            f"a replication factor of {replication_factor} needs at least {replication_factor} "
            f"brokers; use --brokers {replication_factor} or more, or --replication-factor {brokers}"
        )
    root = ctx.data_dir / CLUSTER_DIR
    shutil.rmtree(root, ignore_errors=True)
    cluster = _Cluster(root, name, partitions, brokers, rf)
    phase = ctx.duration(4.0, 0.8)
    victim = 2 if brokers >= 2 else 1
    state = {"phase": "all brokers up", "written": 0, "while_down": 0, "caught_up": 0}

    def render():
        table = Table(box=None, pad_edge=False, header_style="bold")
        table.add_column("partition", justify="right")
        table.add_column("leader", justify="right")
        table.add_column("replicas")
        table.add_column("in sync (ISR)")
        table.add_column("log-end offset per replica")
        for part in cluster.partitions:
            leos = "  ".join(
                f"b{b}:{cluster.leo(b, part.number)}" + ("" if cluster.up[b] else "✗")
                for b in part.replicas
            )
            table.add_row(
                str(part.number),
                Text(f"b{part.leader}", style="bold green"),
                ",".join(f"b{b}" for b in part.replicas),
                ",".join(f"b{b}" for b in sorted(part.isr)),
                leos,
            )
        brokers_line = Text("brokers: ")
        for b in cluster.brokers:
            leads = sum(1 for p in cluster.partitions if p.leader == b)
            style = "green" if cluster.up[b] else "red"
            status = f"leads {leads}" if cluster.up[b] else "DOWN"
            brokers_line.append(f"b{b} {status}   ", style=style)
        head = Text.assemble(
            ("SIMULATED cluster  ", "bold yellow"),
            f"topic {name}, {partitions} partitions, replication factor {rf}  ",
            (state["phase"], "bold"),
        )
        return Group(head, brokers_line, table)

    def plain():
        leaders = " ".join(f"p{p.number}:b{p.leader}" for p in cluster.partitions)
        return f"{state['phase']}: leaders {leaders}; {state['written']} records written"

    heading(
        ctx,
        "A simulated cluster",
        f"{brokers} brokers as threads, each with its own log directory under "
        f"{root}. A producer writes to the leaders; followers fetch from them.",
    )
    stop = threading.Event()

    def followers() -> None:
        while not stop.is_set():
            copied = cluster.fetch_round()
            if not copied:
                time.sleep(0.02)

    fetcher = threading.Thread(target=followers, daemon=True)
    fetcher.start()
    from storage import ProducerRecord

    def produce_for(seconds: float, counter: str | None = None) -> None:
        pacer = Pacer(200)
        end = time.monotonic() + seconds
        i = 0
        while time.monotonic() < end:
            pacer.wait()
            p = i % partitions
            rec = [ProducerRecord(value=f"reading {state['written']}".encode())]
            if cluster.produce(p, rec):
                state["written"] += 1
                if counter:
                    state[counter] += 1
            i += 1

    leaders_before = {
        b: sum(1 for p in cluster.partitions if p.leader == b) for b in cluster.brokers
    }
    with live_view(ctx, render, plain) as refresh:
        produce_for(phase)
        state["phase"] = f"broker {victim} FAILED"
        moved = cluster.fail(victim)
        refresh()
        produce_for(phase, "while_down")
        behind = sum(
            cluster.leo(p.leader, p.number) - cluster.leo(victim, p.number)
            for p in cluster.partitions
            if victim in p.replicas
        )
        state["phase"] = f"broker {victim} back, catching up"
        cluster.restart(victim)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(
            victim in p.isr for p in cluster.partitions if victim in p.replicas
        ):
            time.sleep(0.02)
        state["caught_up"] = behind
        produce_for(phase / 2)
        back = cluster.preferred_election()
        state["phase"] = "preferred leaders restored"
        refresh()
        produce_for(phase / 2)
        stop.set()
        fetcher.join()
        cluster.fetch_round()
    complete = all(
        cluster.leo(b, p.number) == cluster.leo(p.leader, p.number)
        for p in cluster.partitions
        for b in p.replicas
    )
    cluster.close()
    led = ", ".join(f"b{b}: {n}" for b, n in leaders_before.items())
    new_leaders = ", ".join(f"p{p}→b{b}" for p, b in moved) or "none"
    lines = [
        f"SIMULATED: {brokers} brokers in one process; kcli itself is a single node with no "
        f"replication",
        f"{partitions} partitions with replication factor {rf} were spread over the brokers "
        f"as Kafka places them: leaders per broker {led}",
        f"broker {victim} failed: its leaderships moved to in-sync followers ({new_leaders}) "
        f"and producing went on: {state['while_down']} records written while it was down",
        f"broker {victim} came back {behind} records behind, caught up by fetching from the "
        f"leaders, rejoined the ISR, and preferred-leader election gave back "
        f"{len(back)} partition(s)",
        f"every replica ended with the same {state['written']} records: "
        + ("nothing was lost" if complete else "some replicas are still behind"),
        f"the brokers' log directories are in {root}",
    ]
    summary(ctx, lines)
    return lines
