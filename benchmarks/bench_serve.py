"""Records per second through `kcli serve`, next to kcli's own Python API on the same store.

    python benchmarks/bench_serve.py [--records N] [--value-bytes B] [--partitions P]

Produces N records (and consumes them back) with:

* kcli's Python API (``from kcli import Producer, Consumer``) straight into the store: the
  baseline, measured in the same run;
* confluent-kafka (librdkafka) through ``kcli serve``;
* kafka-python through ``kcli serve`` (a pure-Python client: expect it to be the slowest).

Every producer waits until its records are acknowledged, i.e. fsynced (flush()).  Prints
records/s per client and direction, and each rate as a ratio of the direct API's.  The goals
for confluent-kafka through the server: produce at least 0.5 of the direct rate, consume at
least 0.7 (at 1, 4 and 12 partitions: ``--partitions``).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def start_server(data_dir: Path) -> tuple[subprocess.Popen, str]:
    env = {k: v for k, v in os.environ.items() if k != "KCLI_DATA_DIR"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kcli", "--data-dir", str(data_dir), "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    found = threading.Event()
    address = []

    def pump():
        for line in proc.stdout:
            m = re.search(r"bootstrap\.servers=(\S+)", line)
            if m and not found.is_set():
                address.append(m.group(1))
                found.set()

    threading.Thread(target=pump, daemon=True).start()
    if not found.wait(60):
        proc.kill()
        raise SystemExit("kcli serve did not start")
    return proc, address[0]


def peak_rss_mb(pid: int) -> float | None:
    """A live process's peak resident set (Linux's VmHWM), in MB; None where unknown."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def timed(fn) -> tuple[float, int]:
    start = time.perf_counter()
    count = fn()
    return time.perf_counter() - start, count


# -- kcli's own API ------------------------------------------------------------------------


def kcli_produce(data_dir, topic, values):
    from kcli import Producer

    producer = Producer({"data.dir": str(data_dir)})
    for value in values:
        while True:
            try:
                producer.produce(topic, value=value)
                break
            except BufferError:
                producer.poll(0.01)
    assert producer.flush(120) == 0
    return len(values)


def kcli_consume(data_dir, topic, partitions, n):
    from kcli import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({"data.dir": str(data_dir), "group.id": "bench-kcli"})
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    got = 0
    while got < n:
        got += len(consumer.consume(10_000, timeout=5))
    consumer.close()
    return got


# -- confluent-kafka -----------------------------------------------------------------------


def confluent_produce(bootstrap, topic, values):
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for value in values:
        while True:
            try:
                producer.produce(topic, value=value)
                break
            except BufferError:
                producer.poll(0.01)
    assert producer.flush(120) == 0
    return len(values)


def confluent_consume(bootstrap, topic, partitions, n):
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition, libversion

    conf = {"bootstrap.servers": bootstrap, "group.id": "bench-ck", "enable.auto.commit": False}
    if libversion()[1] >= 0x02040000:
        # librdkafka stops fetching a partition for fetch.queue.backoff.ms (1000 ms) whenever
        # its queue holds queued.min.messages (100k) that the application has not consumed
        # yet: with 200k records in one partition a Python loop on a busy machine falls that
        # far behind in some runs, and the pause (a client's, against any broker) would be
        # what the figure measures.
        conf["fetch.queue.backoff.ms"] = 10
    consumer = Consumer(conf)
    # Metadata first: a partition assigned before librdkafka knows its leader waits for the
    # client's offset-query retry timer (500 ms) before its first ListOffsets, against any
    # broker.  Without this line that wait lands in some runs and not others (it depends on
    # whether the bootstrap Metadata answer beats assign()), which made the consume figure
    # swing between ~0.2x and ~0.7x.
    consumer.list_topics(topic, timeout=10)
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    got = 0
    while got < n:
        got += sum(1 for m in consumer.consume(10_000, timeout=5) if not m.error())
    consumer.close()
    return got


# -- kafka-python --------------------------------------------------------------------------


def kafka_python_produce(bootstrap, topic, values):
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    for value in values:
        producer.send(topic, value=value)
    producer.flush()
    producer.close()
    return len(values)


def kafka_python_consume(bootstrap, topic, partitions, n):
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
    consumer.seek_to_beginning()
    got = 0
    while got < n:
        got += sum(len(r) for r in consumer.poll(timeout_ms=1000, max_records=100_000).values())
    consumer.close()
    return got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--value-bytes", type=int, default=100)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument(
        "--kafka-python-share",
        type=float,
        default=0.25,
        help="fraction of --records for kafka-python (it is slow)",
    )
    args = parser.parse_args()

    from storage import Store

    n = args.records
    n_kp = max(1000, int(n * args.kafka_python_share))
    value = b"x" * args.value_bytes
    with tempfile.TemporaryDirectory(prefix="kcli-bench-serve-") as tmp:
        data_dir = Path(tmp)
        store = Store(data_dir)
        for name in ("direct", "confluent", "kafka-python"):
            store.create_topic(f"bench-{name}", args.partitions)
        server, bootstrap = start_server(data_dir)
        try:
            rows = []
            t, c = timed(lambda: kcli_produce(data_dir, "bench-direct", [value] * n))
            rows.append(("kcli Python API (direct)", "produce", c, t))
            t, c = timed(lambda: kcli_consume(data_dir, "bench-direct", args.partitions, n))
            rows.append(("kcli Python API (direct)", "consume", c, t))
            t, c = timed(lambda: confluent_produce(bootstrap, "bench-confluent", [value] * n))
            rows.append(("confluent-kafka via kcli serve", "produce", c, t))
            t, c = timed(
                lambda: confluent_consume(bootstrap, "bench-confluent", args.partitions, n)
            )
            rows.append(("confluent-kafka via kcli serve", "consume", c, t))
            t, c = timed(
                lambda: kafka_python_produce(bootstrap, "bench-kafka-python", [value] * n_kp)
            )
            rows.append(("kafka-python via kcli serve", "produce", c, t))
            t, c = timed(
                lambda: kafka_python_consume(bootstrap, "bench-kafka-python", args.partitions, n_kp)
            )
            rows.append(("kafka-python via kcli serve", "consume", c, t))
            server_peak_rss = peak_rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait(60)

    base = {d: c / t for name, d, c, t in rows if name.startswith("kcli")}
    print(
        f"{n:,} records of {args.value_bytes} bytes ({n_kp:,} for kafka-python), "
        f"{args.partitions} partitions, acknowledged = fsynced"
    )
    print(
        f"{'client':34} {'direction':9} {'records':>9} {'seconds':>8} {'records/s':>11} {'vs direct':>9}"
    )
    for name, direction, count, seconds in rows:
        rate = count / seconds
        print(
            f"{name:34} {direction:9} {count:>9,} {seconds:>8.2f} {rate:>11,.0f} "
            f"{rate / base[direction]:>9.2f}"
        )
    if server_peak_rss is not None:
        print(f"kcli serve peak RSS over the whole run: {server_peak_rss:.0f} MB (flat: < 100 MB)")
    rates = {(name, d): c / t for name, d, c, t in rows}
    for direction, target in (("produce", 0.5), ("consume", 0.7)):
        ratio = rates[("confluent-kafka via kcli serve", direction)] / base[direction]
        print(
            f"confluent-kafka {direction} through kcli serve: {ratio:.2f} of the direct API "
            f"rate (target >= {target:.2f})"
        )


if __name__ == "__main__":
    main()
