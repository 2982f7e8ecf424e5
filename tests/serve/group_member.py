"""A consumer-group member for the tests, run as its own process.

    python group_member.py {kafka-python|confluent-kafka|confluent-kafka-consumer} BOOTSTRAP \
        TOPIC GROUP CLIENT_ID

``confluent-kafka-consumer`` is confluent-kafka with ``group.protocol=consumer`` (KIP-848);
GROUP_INSTANCE_ID in the environment makes a confluent-kafka member static
(``group.instance.id``).  Prints one JSON object per line: {"assigned": [partitions]} with
every partition it owns after each change of its assignment, {"fatal": error} when the client
is fenced for good, and
{"p": partition, "o": offset, "v": value} per record; commits after every record.  SIGTERM
closes the consumer (leaving the group) and exits.  With GROUP_MEMBER_LOG_DIR set, the client
library logs at DEBUG to a file there (one per process), to see what a member sent and got.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys

SESSION_TIMEOUT_MS = 6000
HEARTBEAT_INTERVAL_MS = 500
REBALANCE_TIMEOUT_MS = 10000
stopping = False


def emit(obj) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _stop(*_):
    global stopping
    stopping = True


def run_kafka_python(bootstrap, topic, group, client_id):
    from kafka import ConsumerRebalanceListener, KafkaConsumer

    class Listener(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            pass

        def on_partitions_assigned(self, assigned):
            emit({"assigned": sorted(tp.partition for tp in assigned)})

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        client_id=client_id,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=SESSION_TIMEOUT_MS,
        heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
        # The rebalance timeout (kafka-python sends max.poll.interval.ms, default 300 s): a
        # member that misses a rebalance is dropped after 10 s instead of stalling the group.
        max_poll_interval_ms=REBALANCE_TIMEOUT_MS,
    )
    consumer.subscribe([topic], listener=Listener())
    # Load the topic's metadata before the first poll().  kafka-python 3.0 drops a join that a
    # poll() timed out on if the join was started because the partitions changed since this
    # member, as leader, assigned them: the leader refreshes its snapshot while assigning, so
    # the next poll() sees nothing to rejoin, never collects the finished join, and the member
    # stays out of the group with its heartbeats off.  A first join that completes before the
    # metadata arrives (the leader assigns nothing, then sees four partitions) sets that off.
    consumer.partitions_for_topic(topic)
    while not stopping:
        batches = consumer.poll(timeout_ms=200)
        for records in batches.values():
            for r in records:
                emit({"p": r.partition, "o": r.offset, "v": r.value.decode()})
        if batches:
            consumer.commit()
    consumer.close()


def run_confluent(bootstrap, topic, group, client_id, protocol="classic"):
    from confluent_kafka import Consumer, KafkaError

    config = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "client.id": client_id,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    }
    if protocol == "consumer":
        # The broker sets the session timeout and heartbeat interval (KIP-848).
        config["group.protocol"] = "consumer"
    else:
        config["session.timeout.ms"] = SESSION_TIMEOUT_MS
        config["heartbeat.interval.ms"] = HEARTBEAT_INTERVAL_MS
    if os.environ.get("GROUP_INSTANCE_ID"):
        config["group.instance.id"] = os.environ["GROUP_INSTANCE_ID"]
    consumer = Consumer(config)
    # The consumer protocol hands out increments (as cooperative rebalancing does), the
    # classic eager one whole assignments: both are printed as everything owned.
    owned: set[int] = set()

    def on_assign(c, partitions):
        owned.update(tp.partition for tp in partitions)
        emit({"assigned": sorted(owned)})

    def on_revoke(c, partitions):
        owned.difference_update(tp.partition for tp in partitions)
        emit({"assigned": sorted(owned)})

    consumer.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_revoke)
    while not stopping:
        m = consumer.poll(0.2)
        if m is not None and m.error() and m.error().code() == KafkaError._FATAL:
            # Fenced (a static member whose instance id another process took): unusable.
            emit({"fatal": m.error().str()})
            break
        if m is None or m.error():
            continue
        emit({"p": m.partition(), "o": m.offset(), "v": m.value().decode()})
        consumer.commit(message=m, asynchronous=False)
    consumer.close()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _stop)
    client, bootstrap, topic, group, client_id = sys.argv[1:6]
    log_dir = os.environ.get("GROUP_MEMBER_LOG_DIR")
    if log_dir:
        logging.basicConfig(
            filename=os.path.join(log_dir, f"{client_id}-{os.getpid()}.log"),
            level=logging.DEBUG,
            format="%(asctime)s.%(msecs)03d %(threadName)s %(name)s %(levelname)s %(message)s",
            datefmt="%H:%M:%S",
        )
    if client == "kafka-python":
        run_kafka_python(bootstrap, topic, group, client_id)
    elif client == "confluent-kafka-consumer":
        run_confluent(bootstrap, topic, group, client_id, protocol="consumer")
    else:
        run_confluent(bootstrap, topic, group, client_id)
