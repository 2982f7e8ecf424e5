"""Consumer processes the demos start (multiprocessing, spawn): real processes, real groups.

Each worker is a ``kcli.Consumer`` in a consumer group, reporting what it did through shared
counters so the demo's live view can show it.  Workers ignore Ctrl-C: the demo stops them
through an event, so each one leaves its group cleanly (and the demo can also SIGKILL one on
purpose, to show a member dying).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import random
import signal
import time
from pathlib import Path

from kcli import Consumer, Producer


def _consumer(data_dir: str, group: str, name: str, extra: dict | None = None):
    conf = {
        "data.dir": data_dir,
        "group.id": group,
        "client.id": name,
        "auto.offset.reset": "earliest",
        "auto.commit.interval.ms": 200,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
    }
    conf.update(extra or {})
    return Consumer(conf)


def counting_worker(
    data_dir: str,
    topic: str,
    group: str,
    name: str,
    rate: float,
    counter,
    stop,
    extra: dict | None = None,
) -> None:
    """Consume ``topic`` in ``group`` at most ``rate`` records/s (0: as fast as possible)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    consumer = _consumer(data_dir, group, name, extra)
    consumer.subscribe([topic])
    interval = 1.0 / rate if rate else 0.0
    next_due = time.monotonic()
    try:
        while not stop.is_set():
            msg = consumer.poll(0.1)
            if msg is None or msg.error():
                continue
            with counter.get_lock():
                counter.value += 1
            if interval:
                next_due += interval
                delay = next_due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                else:
                    next_due = time.monotonic()
    finally:
        consumer.close()


def billing_worker(
    data_dir: str,
    source: str,
    sink: str,
    group: str,
    name: str,
    out_dir: str,
    counter,
    stop,
) -> None:
    """Purchases in, invoices out: produce each invoice to ``sink`` and write it as a file.

    A file is named after the purchase's partition and offset, so a purchase processed twice
    (at-least-once, after a crash) rewrites the same file instead of billing twice.
    """

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    consumer = _consumer(data_dir, group, name, {"enable.auto.commit": False})
    producer = Producer({"data.dir": data_dir})
    consumer.subscribe([source])
    out = Path(out_dir)
    try:
        while not stop.is_set():
            batch = consumer.consume(100, 0.1)
            done = 0
            for msg in batch:
                if msg.error():
                    continue
                purchase = json.loads(msg.value())
                net = round(purchase["amount"], 2)
                invoice = {
                    "invoice": f"INV-{msg.partition()}-{msg.offset():06d}",
                    "customer": purchase["customer"],
                    "item": purchase["item"],
                    "net": net,
                    "vat": round(net * 0.2, 2),
                    "total": round(net * 1.2, 2),
                    "counter": purchase["counter"],
                    "billed_by": name,
                }
                producer.produce(sink, key=purchase["customer"], value=json.dumps(invoice))
                folder = out / purchase["customer"]
                folder.mkdir(parents=True, exist_ok=True)
                tmp = folder / f".{invoice['invoice']}.tmp"
                tmp.write_text(
                    f"Invoice {invoice['invoice']}\nCustomer: {invoice['customer']}\n"
                    f"Item: {invoice['item']}\nNet: {net:.2f}\nVAT 20%: {invoice['vat']:.2f}\n"
                    f"Total: {invoice['total']:.2f}\n"
                )
                tmp.replace(folder / f"{invoice['invoice']}.txt")
                done += 1
            if batch:
                producer.flush()
                consumer.commit(asynchronous=False)  # after the sink: at-least-once
                with counter.get_lock():
                    counter.value += done
    finally:
        consumer.close()


def iot_worker(
    data_dir: str,
    topic: str,
    group: str,
    name: str,
    threshold: float,
    counter,
    alerts,
    stop,
    results,
) -> None:
    """Keep per-device state (count, average, last value); count readings above ``threshold``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    consumer = _consumer(data_dir, group, name)
    consumer.subscribe([topic])
    devices: dict[str, list[float]] = {}
    alerting: set[str] = set()
    try:
        while not stop.is_set():
            for msg in consumer.consume(500, 0.1):
                if msg.error():
                    continue
                device = msg.key().decode()
                value = float(msg.value())
                state = devices.setdefault(device, [0, 0.0])
                state[0] += 1
                state[1] += value
                if value > threshold:
                    alerting.add(device)
                    with alerts.get_lock():
                        alerts.value += 1
                with counter.get_lock():
                    counter.value += 1
    finally:
        consumer.close()
        results.put((name, sorted(devices), sorted(alerting)))


def iot_fleet(
    data_dir: str, topic: str, devices: int, per_second: float, seconds: float, counter, stop
) -> None:
    """Every device sends a temperature reading, keyed by its id, ``per_second`` times a second."""

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    producer = Producer({"data.dir": data_dir})
    rng = random.Random(7)
    base = {f"device-{d:04d}": rng.uniform(18.0, 24.0) for d in range(1, devices + 1)}
    hot = set(rng.sample(sorted(base), max(1, devices // 100)))
    start = time.monotonic()
    rounds = 0
    while not stop.is_set() and time.monotonic() - start < seconds:
        for device, temp in base.items():
            drift = 25.0 if device in hot and rng.random() < 0.3 else 0.0
            value = temp + rng.gauss(0, 0.5) + drift
            producer.produce(topic, key=device, value=f"{value:.2f}")
        producer.flush()
        with counter.get_lock():
            counter.value += devices
        rounds += 1
        due = start + rounds / per_second
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def start(target, *args) -> mp.Process:
    """Start ``target(*args)`` in a new (spawned) process."""
    proc = mp.get_context("spawn").Process(target=target, args=args, daemon=True)
    proc.start()
    return proc


def context():
    return mp.get_context("spawn")
