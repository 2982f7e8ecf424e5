"""The public client API honours bootstrap.servers: kcli.Producer, Consumer and AdminClient
talk to the cluster it names (here `kcli serve`), and to the local store without it."""

from __future__ import annotations

import sys

import pytest

import kcli
from kcli import AdminClient, Consumer, KafkaException, NewTopic, Producer, TopicPartition
from kcli.errors import KcliError
from kcli.remote.backend import INSTALL_HINT
from storage import Store

WAIT_S = 60.0


def read(consumer, topic: str, wanted: int) -> list[tuple[bytes | None, bytes | None]]:
    consumer.assign([TopicPartition(topic, 0, kcli.OFFSET_BEGINNING)])
    got: list = []
    for _ in range(200):
        for m in consumer.consume(100, timeout=0.3):
            if m.error() is None:
                got.append((m.key(), m.value()))
        if len(got) >= wanted:
            break
    consumer.close()
    return got


def test_a_producer_with_bootstrap_servers_writes_to_that_cluster(cluster, tmp_path):
    local = tmp_path / "local-data"
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    admin.create_topics([NewTopic("orders", 1)])["orders"].result(WAIT_S)

    reports = []
    p = Producer({"bootstrap.servers": cluster.bootstrap, "data.dir": str(local)})
    assert isinstance(p, Producer)
    p.produce("orders", value="hello", key="k1", on_delivery=lambda e, m: reports.append((e, m)))
    assert p.flush(WAIT_S) == 0
    assert [(e, m.topic(), m.value()) for e, m in reports] == [(None, "orders", b"hello")]

    # The record is in the cluster's store, not in any local one.
    log = Store(cluster.data_dir).log("orders", 0)
    assert log.log_end_offset == 1
    assert not local.exists()

    c = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": "readers"})
    assert isinstance(c, Consumer)
    assert read(c, "orders", 1) == [(b"k1", b"hello")]

    assert "orders" in admin.list_topics(timeout=WAIT_S).topics


def test_the_cluster_refuses_what_the_local_store_refuses(cluster, tmp_path):
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    admin.create_topics([NewTopic("two", 2)])["two"].result(WAIT_S)
    remote = Producer({"bootstrap.servers": cluster.bootstrap})
    Store(tmp_path / "data").create_topic("two", 2)
    local = Producer({"data.dir": str(tmp_path / "data")})
    messages = []
    for p in (remote, local):
        with pytest.raises(KafkaException) as refused:
            p.produce("two", b"x", partition=2)
        messages.append((refused.value.args[0].code(), str(refused.value)))
        with pytest.raises(KafkaException) as unknown:
            p.produce("nope", b"x")
        assert unknown.value.args[0].code() == kcli.KafkaError.UNKNOWN_TOPIC_OR_PART
        p.flush(WAIT_S)
    assert messages[0] == messages[1]
    assert "partition 2 does not exist" in messages[0][1]


def test_without_bootstrap_servers_the_local_store_is_used(tmp_path):
    p = Producer({"data.dir": str(tmp_path / "data")})
    AdminClient({"data.dir": str(tmp_path / "data")}).create_topics([NewTopic("t", 1)])[
        "t"
    ].result()
    p.produce("t", b"v")
    assert p.flush() == 0
    assert Store(tmp_path / "data").log("t", 0).log_end_offset == 1


def test_without_confluent_kafka_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "confluent_kafka", None)
    for client in (Producer, Consumer, AdminClient):
        with pytest.raises(KcliError) as missing:
            client({"bootstrap.servers": "127.0.0.1:9092", "group.id": "g"})
        assert INSTALL_HINT in str(missing.value)
