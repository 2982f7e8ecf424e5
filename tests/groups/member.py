"""A consumer-group member for the multi-process tests, run as a child process.

    python member.py CONFIG_JSON EVENTS_FILE

Subscribes with the Consumer API and writes one JSON line per event to EVENTS_FILE (line
buffered, so a SIGKILL loses nothing already written): ``assigned``/``revoked``/``lost`` with
the partitions and generation, ``rec`` for each record processed, ``closed`` after a clean
close.  With ``"instance_id"`` it is a static member (``group.instance.id``).  Under
``cooperative-sticky`` the partitions of ``assigned``/``revoked`` are the increments, as
confluent-kafka hands them to the callbacks.  SIGTERM makes it close cleanly.  With ``"stale_commit": true`` it commits with its
first generation once it has been given a second one, and records whether that was refused.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

config = json.loads(sys.argv[1])
events = open(sys.argv[2], "a", buffering=1)  # noqa: SIM115 - open for the process lifetime
stop = False


def emit(kind: str, **fields) -> None:
    events.write(json.dumps({"e": kind, "t": time.time(), "pid": os.getpid(), **fields}) + "\n")


def on_term(signum, frame) -> None:
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)

from kcli import Consumer  # noqa: E402 - after the signal handler, so a quick TERM is clean

conf = {
    "data.dir": config["data_dir"],
    "group.id": config["group"],
    "client.id": config.get("client_id", "member"),
    "session.timeout.ms": config.get("session_timeout_ms", 2000),
    "auto.commit.interval.ms": config.get("auto_commit_interval_ms", 100),
    "partition.assignment.strategy": config.get("assignor", "range"),
}
if config.get("instance_id"):
    conf["group.instance.id"] = config["instance_id"]
consumer = Consumer(conf)
generations: list[int] = []


def parts(partitions) -> list:
    return [[tp.topic, tp.partition] for tp in partitions]


def on_assign(c, partitions) -> None:
    generations.append(c._coordinator.member.generation)
    emit("assigned", parts=parts(partitions), gen=generations[-1], member=c.memberid())


def on_revoke(c, partitions) -> None:
    emit("revoked", parts=parts(partitions))


def on_lost(c, partitions) -> None:
    emit("lost", parts=parts(partitions))


consumer.subscribe(config["topics"], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)
emit("start")
stale_done = False
while not stop:
    msg = consumer.poll(0.05)
    if msg is not None and msg.error() is None:
        emit("rec", tp=[msg.topic(), msg.partition()], o=msg.offset(), v=msg.value().decode())
    elif msg is not None:
        emit("error", code=msg.error().name(), text=msg.error().str())
    if config.get("stale_commit") and not stale_done and len(generations) >= 2:
        from storage.groups import GroupStore, IllegalGeneration

        stale_done = True
        try:
            GroupStore(consumer._store).commit_offsets(
                config["group"],
                {(config["topics"][0], 0): 0},
                generation=generations[0],
                member_id=consumer.memberid(),
            )
            emit("stale_commit", refused=False)
        except IllegalGeneration as exc:
            emit("stale_commit", refused=True, error=str(exc))
consumer.close()
emit("closed")
