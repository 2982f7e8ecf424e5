"""Demo: a work queue deletes what is consumed; a log keeps it for every consumer group.

The queue is a real one on disk with the semantics of RabbitMQ's or ActiveMQ's queues: one
file per message in ``<data-dir>/demo-queue/ready``; a consumer takes a message by renaming it
into ``unacked`` (atomic, so two consumers never get the same one) and acknowledging deletes
it.  Two applications share the queue.  Then the same messages go to a kcli topic, read by two
consumer groups and by a third that starts late.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

from rich.table import Table

from kcli import Consumer, Producer
from kcli.demos._common import DemoContext, heading, live_view, reset_groups, reset_topic, summary

QUEUE_DIR = "demo-queue"
TOPIC = "demo-queue-vs-log"
APPS = ("billing", "analytics")


class FileQueue:
    """A durable work queue: deliver each message to one consumer, delete it on ack."""

    def __init__(self, root: Path):
        self.ready = root / "ready"
        self.unacked = root / "unacked"
        shutil.rmtree(root, ignore_errors=True)
        self.ready.mkdir(parents=True)
        self.unacked.mkdir()
        self._seq = 0

    def put(self, body: str) -> None:
        self._seq += 1
        tmp = self.ready / f".{self._seq:08d}.tmp"
        tmp.write_text(body)
        tmp.rename(self.ready / f"{self._seq:08d}.msg")

    def get(self) -> tuple[Path, str] | None:
        for name in sorted(os.listdir(self.ready)):
            if not name.endswith(".msg"):
                continue
            taken = self.unacked / name
            try:
                os.rename(self.ready / name, taken)  # only one consumer can win this
            except FileNotFoundError:
                continue
            return taken, taken.read_text()
        return None

    def ack(self, tag: Path) -> None:
        tag.unlink()

    def depth(self) -> int:
        return sum(1 for n in os.listdir(self.ready) if n.endswith(".msg"))

    def stored(self) -> int:
        return self.depth() + len(os.listdir(self.unacked))


def run(ctx: DemoContext) -> list[str]:
    """The same messages through a queue and through a log."""

    count = 60 if ctx.fast else 200
    work_s = 0.01 if ctx.fast else 0.05
    queue = FileQueue(ctx.data_dir / QUEUE_DIR)
    for i in range(count):
        queue.put(f"order {i}")
    got = {app: 0 for app in APPS}
    got["audit (late)"] = 0

    def queue_consumer(app: str) -> None:
        while True:
            item = queue.get()
            if item is None:
                return
            tag, _body = item
            time.sleep(work_s)  # the work; then acknowledge, which deletes the message
            queue.ack(tag)
            got[app] += 1

    def render_queue():
        table = Table(box=None, pad_edge=False, header_style="bold")
        table.add_column("")
        table.add_column("messages", justify="right")
        table.add_row("stored in the queue", str(queue.stored()))
        for app, n in got.items():
            table.add_row(f"taken by {app}", str(n))
        return table

    def plain_queue():
        taken = ", ".join(f"{a} {n}" for a, n in got.items())
        return f"queue holds {queue.stored()}; taken: {taken}"

    heading(
        ctx,
        "1. A work queue (RabbitMQ/ActiveMQ semantics)",
        f"{count} messages in a queue on disk ({queue.ready.parent}); two applications, "
        f"{' and '.join(APPS)}, take messages and acknowledge them.",
    )
    with live_view(ctx, render_queue, plain_queue):
        threads = [threading.Thread(target=queue_consumer, args=(a,)) for a in APPS]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        queue_consumer("audit (late)")
    queue_left = queue.stored()

    store = ctx.store()
    groups_all = [f"{TOPIC}-{a}" for a in (*APPS, "audit")]
    reset_groups(store, *groups_all)
    reset_topic(store, TOPIC, 1)
    producer = Producer({"data.dir": str(ctx.data_dir)})
    for i in range(count):
        producer.produce(TOPIC, value=f"order {i}")
    producer.flush()
    read = {a: 0 for a in (*APPS, "audit (late)")}

    def group_reader(app: str, group: str) -> None:
        consumer = Consumer(
            {"data.dir": str(ctx.data_dir), "group.id": group, "auto.offset.reset": "earliest"}
        )
        consumer.subscribe([TOPIC])
        idle = 0.0
        while read[app] < count and idle < 20:
            msg = consumer.poll(0.1)
            if msg is None:
                idle += 0.1
                continue
            time.sleep(work_s / 2)
            read[app] += 1
        consumer.close()

    def render_log():
        log = store.log(TOPIC, 0)
        table = Table(box=None, pad_edge=False, header_style="bold")
        table.add_column("")
        table.add_column("records", justify="right")
        table.add_row("stored in the topic", f"{log.log_end_offset - log.log_start_offset}")
        for app, n in read.items():
            table.add_row(f"read by group {app}", str(n))
        return table

    def plain_log():
        reads = ", ".join(f"{a} {n}" for a, n in read.items())
        return f"topic holds {count}; read: {reads}"

    heading(
        ctx,
        "2. The same messages in a kcli topic",
        f"Topic '{TOPIC}'; consumer groups {', '.join(APPS)} read it, then a late group 'audit'.",
    )
    with live_view(ctx, render_log, plain_log):
        threads = [threading.Thread(target=group_reader, args=(a, f"{TOPIC}-{a}")) for a in APPS]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        group_reader("audit (late)", f"{TOPIC}-audit")
    log = store.log(TOPIC, 0)
    start, end = log.log_start_offset, log.log_end_offset
    store.close()
    lines = [
        f"queue: {APPS[0]} took {got[APPS[0]]} and {APPS[1]} took {got[APPS[1]]} of {count}: "
        f"each message went to one consumer and was deleted when acknowledged",
        f"the queue is now empty ({queue_left} messages stored): the late 'audit' app got "
        f"{got['audit (late)']} messages",
        f"log: groups {APPS[0]}, {APPS[1]} and the late audit group read "
        f"{read[APPS[0]]}, {read[APPS[1]]} and {read['audit (late)']} of {count}: each group "
        f"gets every record",
        f"the topic still holds offsets {start}..{end - 1}: reading deleted nothing; "
        f"only retention removes records",
        "a queue broker gives each app every message by copying it into one queue per app "
        "(RabbitMQ's fanout exchange); an app added later still cannot get old messages",
    ]
    summary(ctx, lines)
    return lines
