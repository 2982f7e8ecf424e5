"""Real Kafka clients (confluent-kafka) against a test cluster: produce one record and wait
for its answer, read a partition back."""

from __future__ import annotations

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition


def producer(bootstrap: str, **config) -> Producer:
    conf = {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "message.timeout.ms": 20_000,
        "topic.metadata.refresh.interval.ms": 500,
        "retry.backoff.ms": 100,
    }
    conf.update(config)
    return Producer(conf)


def produce_one(p: Producer, topic: str, value: bytes, partition: int = 0, timeout_s: float = 30):
    """(error or None, offset) of one record."""
    result = []
    p.produce(topic, value, partition=partition, on_delivery=lambda e, m: result.append((e, m)))
    p.flush(timeout_s)
    assert result, "no delivery report"
    error, msg = result[0]
    return error, (msg.offset() if error is None else None)


def error_name(error: KafkaError | None) -> str | None:
    return None if error is None else error.name()


def read_partition(bootstrap: str, topic: str, partition: int, end: int) -> list[tuple[int, bytes]]:
    """(offset, value) of every record of a partition from its start up to ``end``."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "reader",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    out: list[tuple[int, bytes]] = []
    try:
        c.assign([TopicPartition(topic, partition, 0)])
        misses = 0
        while (not out or out[-1][0] < end - 1) and misses < 60 and end > 0:
            msg = c.poll(0.5)
            if msg is None:
                misses += 1
                continue
            if msg.error():
                continue
            out.append((msg.offset(), msg.value()))
    finally:
        c.close()
    return out
