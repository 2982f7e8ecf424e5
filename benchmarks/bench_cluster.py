"""Figures for ``kcli cluster``, measured in one run.

    python benchmarks/bench_cluster.py [--records N] [--value-bytes B] [--idle-seconds S]
                                       [--rounds R]

* Produce throughput with confluent-kafka, acks=all, replication factor 3, through a
  3-broker cluster, next to the same producer with acks=1 through ``kcli serve`` (one
  broker, no replication): the baseline, in the same run, alternating R times (the median
  ratio is the figure: a machine shared with other work slows single runs unevenly).
  Target: at least 0.5x.
* Failover: a producer sends one acks=all record every 10 ms; the leader of its partition is
  killed with SIGKILL; the time from the kill to the next acknowledged record.  Target: at
  most broker.session.timeout.ms + 2 s (the default 9000 ms is used here).
* An idle 4-broker cluster (and its controller): resident memory of all five processes
  together (target under 400 MB) and CPU over ``--idle-seconds`` (target under 5% of one core).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_serve import start_server  # noqa: E402
from tests.cluster.harness import LocalCluster  # noqa: E402


def produce(bootstrap: str, topic: str, values: list[bytes], acks: str) -> float:
    from confluent_kafka import Producer

    p = Producer(
        {"bootstrap.servers": bootstrap, "acks": acks, "linger.ms": 5, "enable.idempotence": False}
    )
    errors = []
    start = time.perf_counter()
    for i, value in enumerate(values):
        while True:
            try:
                p.produce(
                    topic, value, partition=i % 3, on_delivery=lambda e, m: e and errors.append(e)
                )
                break
            except BufferError:
                p.poll(0.01)
    p.flush(300)
    elapsed = time.perf_counter() - start
    if errors:
        raise SystemExit(f"{len(errors)} records failed: {errors[0]}")
    return len(values) / elapsed


def _rss_and_cpu(pids: list[int]) -> tuple[int, float]:
    """(total resident bytes, total CPU seconds) of the processes."""
    page = os.sysconf("SC_PAGE_SIZE")
    ticks = os.sysconf("SC_CLK_TCK")
    rss = cpu = 0
    for pid in pids:
        with open(f"/proc/{pid}/statm") as f:
            rss += int(f.read().split()[1]) * page
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu += (int(fields[11]) + int(fields[12])) / ticks
    return rss, cpu


def throughput(root: Path, n: int, value_bytes: int, rounds: int) -> list[tuple[float, float]]:
    """(kcli serve acks=1, cluster acks=all) records/s, ``rounds`` pairs run alternately on
    one server and one cluster, so that a busy machine slows both sides of a pair alike."""
    values = [os.urandom(value_bytes // 2).hex().encode()[:value_bytes] for _ in range(1000)]
    values = [values[i % 1000] for i in range(n)]
    data = root / "serve"
    data.mkdir()
    proc, address = start_server(data)
    c = LocalCluster(root / "three", 3, config=())
    try:
        c.start()
        pairs = []
        for i in range(rounds):
            topic = f"b{i}"
            subprocess.run(
                [sys.executable, "-m", "kcli", "--bootstrap-server", address]
                + ["topic", "create", topic, "--partitions", "3"],
                check=True,
                capture_output=True,
            )
            c.create_topic(topic, 3, 3)
            serve_rate = produce(address, topic, values, "1")
            pairs.append((serve_rate, produce(c.bootstrap, topic, values, "all")))
        return pairs
    finally:
        proc.terminate()
        proc.wait(60)
        c.delete()


def failover(root: Path) -> float:
    from confluent_kafka import Producer

    c = LocalCluster(root / "failover", 3, config=())
    c.start()
    try:
        c.create_topic("f", 1, 3)
        p = Producer(
            {
                "bootstrap.servers": c.bootstrap,
                "acks": "all",
                "linger.ms": 0,
                "message.timeout.ms": 60_000,
                "topic.metadata.refresh.interval.ms": 500,
                "retry.backoff.ms": 50,
                "retry.backoff.max.ms": 200,
            }
        )
        acked: list[float] = []
        stop = threading.Event()

        def send():
            while not stop.is_set():
                p.produce(
                    "f",
                    b"x",
                    partition=0,
                    on_delivery=lambda e, m: e is None and acked.append(time.monotonic()),
                )
                p.poll(0.01)
            p.flush(60)

        t = threading.Thread(target=send, daemon=True)
        t.start()
        time.sleep(2)
        leader = c.partition("f", 0)["leader"]
        c.kill(leader)  # returns once the process is gone (SIGKILL)
        killed_at = time.monotonic()
        deadline = killed_at + 60
        while time.monotonic() < deadline and not [a for a in acked if a > killed_at]:
            time.sleep(0.01)
        stop.set()
        t.join(70)
        after = [a for a in acked if a > killed_at]
        if not after:
            raise SystemExit("no record was acknowledged within 60 s of the leader kill")
        return after[0] - killed_at
    finally:
        c.delete()


def idle(root: Path, seconds: float) -> tuple[int, float]:
    c = LocalCluster(root / "idle", 4, config=())
    c.start()
    try:
        c.create_topic("idle", 4, 3)
        time.sleep(3)  # let start-up work settle
        status = c.status()
        pids = [b["pid"] for b in status["brokers"]]
        rss, cpu0 = _rss_and_cpu(pids)
        t0 = time.monotonic()
        time.sleep(seconds)
        rss2, cpu1 = _rss_and_cpu(pids)
        return max(rss, rss2), (cpu1 - cpu0) / (time.monotonic() - t0)
    finally:
        c.delete()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--value-bytes", type=int, default=100)
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=3, help="throughput pairs (median)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["KCLI_CONFIG"] = str(root / "config.toml")
        pairs = throughput(root, args.records, args.value_bytes, args.rounds)
        for serve_rate, cluster_rate in pairs:
            print(f"produce, kcli serve, acks=1:                 {serve_rate:10,.0f} records/s")
            print(f"produce, 3-broker cluster, RF 3, acks=all:    {cluster_rate:10,.0f} records/s")
        ratio = statistics.median(c / s for s, c in pairs)
        print(f"  ratio, median of {len(pairs)} (target >= 0.5):         {ratio:10.2f}")
        seconds = failover(root)
        print(
            f"failover, leader kill -> next ack:            {seconds:10.2f} s (target <= 9.0 + 2 s)"
        )
        rss, cpu = idle(root, args.idle_seconds)
        print(
            f"idle 4-broker cluster + controller, RSS:      {rss / 2**20:10.0f} MB (target < 400)"
        )
        print(
            f"idle 4-broker cluster + controller, CPU:      {cpu * 100:10.1f} % of one core "
            f"(target < 5)"
        )


if __name__ == "__main__":
    main()
