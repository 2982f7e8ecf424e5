"""Tombstones through the Python API: a null value stays null, a keyless record on a
compacted topic is refused with Kafka's INVALID_RECORD."""

from __future__ import annotations

from kcli.client.types import KafkaError
from kcli.local.consumer import Consumer
from kcli.local.producer import Producer
from storage import Store


def test_null_values_stay_null_and_keyless_records_are_refused(tmp_path):
    data = tmp_path / "data"
    Store(data).create_topic("users", 1, {"cleanup.policy": "compact"})
    producer = Producer({"data.dir": str(data)})
    reports = []
    producer.produce("users", key=b"bob", value=None, on_delivery=lambda e, m: reports.append(e))
    producer.produce("users", key=b"amy", value=b"", on_delivery=lambda e, m: reports.append(e))
    producer.flush()
    # A batch holding a keyless record is refused whole, as Kafka's broker refuses it.
    producer.produce("users", value=b"no key", on_delivery=lambda e, m: reports.append(e))
    producer.flush()
    assert reports[:2] == [None, None]
    assert reports[2] is not None and reports[2].code() == KafkaError.INVALID_RECORD
    consumer = Consumer({"data.dir": str(data), "group.id": "g", "auto.offset.reset": "earliest"})
    consumer.subscribe(["users"])
    got = []
    for _ in range(50):
        m = consumer.poll(0.1)
        if m is not None and m.error() is None:
            got.append((m.key(), m.value()))
        if len(got) == 2:
            break
    consumer.close()
    assert got == [(b"bob", None), (b"amy", b"")]
