"""Real clients against kcli serve: kafka-python, confluent-kafka (librdkafka), kcat and
kcli's own Python API all write to and read from the same store, and agree on every record."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from confluent_kafka import OFFSET_BEGINNING
from confluent_kafka import Consumer as CkConsumer
from confluent_kafka import Producer as CkProducer
from confluent_kafka import TopicPartition as CkTopicPartition
from confluent_kafka.admin import AdminClient as CkAdminClient
from confluent_kafka.admin import NewTopic as CkNewTopic
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KpTopicPartition
from kafka.admin import ConfigResource, NewTopic

from storage import Store, partition_for_key

PARTITIONS = 4
COUNT = 12
PRODUCERS = ("kafka-python", "confluent-kafka", "kcat", "kcli")
READ_TIMEOUT_S = 60


def _expected(source: str) -> list[tuple[bytes, bytes, tuple]]:
    headers = (("source", source.encode()), ("lang", "ü".encode()))
    return [(f"key-{i}".encode(), f"value {i} ü".encode(), headers) for i in range(COUNT)]


# -- producers -----------------------------------------------------------------------------


def _produce_kafka_python(bootstrap, topic, records):
    producer = KafkaProducer(bootstrap_servers=bootstrap, client_id="kp-producer")
    for key, value, headers in records:
        producer.send(topic, key=key, value=value, headers=list(headers))
    producer.flush()
    producer.close()


def _produce_confluent(bootstrap, topic, records):
    # librdkafka's default partitioner hashes keys with CRC32; murmur2_random is Java's.
    producer = CkProducer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random"})
    for key, value, headers in records:
        producer.produce(topic, key=key, value=value, headers=list(headers))
    assert producer.flush(30) == 0


def _produce_kcat(bootstrap, topic, records):
    lines = b"".join(key + b"|" + value + b"\n" for key, value, _ in records)
    headers = []
    for name, value in records[0][2]:
        headers += ["-H", f"{name}={value.decode()}"]
    subprocess.run(
        [
            "kcat",
            "-P",
            "-b",
            bootstrap,
            "-t",
            topic,
            "-K",
            "|",
            *headers,
            "-X",
            "partitioner=murmur2_random",
        ],
        input=lines,
        check=True,
        timeout=READ_TIMEOUT_S,
    )


def _produce_kcli(data_dir, topic, records):
    # The same store, no network: kcli's own client API, as a script would use it.
    from kcli import Producer

    producer = Producer({"data.dir": str(data_dir)})
    for key, value, headers in records:
        producer.produce(topic, key=key, value=value, headers=list(headers))
    assert producer.flush(30) == 0


# -- readers -------------------------------------------------------------------------------
# Each returns [(partition, offset, timestamp, key, value, headers)] sorted.


def _read_kafka_python(bootstrap, topic):
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    consumer.assign([KpTopicPartition(topic, p) for p in range(PARTITIONS)])
    consumer.seek_to_beginning()
    out = []
    deadline = time.monotonic() + READ_TIMEOUT_S
    while len(out) < COUNT and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            out += [
                (
                    r.partition,
                    r.offset,
                    r.timestamp,
                    r.key,
                    r.value,
                    tuple((k, v) for k, v in r.headers),
                )
                for r in records
            ]
    consumer.close()
    return sorted(out)


def _read_confluent(bootstrap, topic):
    consumer = CkConsumer(
        {"bootstrap.servers": bootstrap, "group.id": "reader-ck", "enable.auto.commit": False}
    )
    consumer.assign([CkTopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    out = []
    deadline = time.monotonic() + READ_TIMEOUT_S
    while len(out) < COUNT and time.monotonic() < deadline:
        m = consumer.poll(0.5)
        if m is None or m.error():
            continue
        out.append(
            (
                m.partition(),
                m.offset(),
                m.timestamp()[1],
                m.key(),
                m.value(),
                tuple(m.headers() or ()),
            )
        )
    consumer.close()
    return sorted(out)


def _read_kcat(bootstrap, topic):
    result = subprocess.run(
        ["kcat", "-C", "-b", bootstrap, "-t", topic, "-J", "-e", "-q", "-o", "beginning"],
        capture_output=True,
        check=True,
        timeout=READ_TIMEOUT_S,
    )
    out = []
    for line in result.stdout.decode().splitlines():
        m = json.loads(line)
        h = m["headers"] or []
        out.append(
            (
                m["partition"],
                m["offset"],
                m["ts"],
                m["key"].encode(),
                m["payload"].encode(),
                tuple((h[i], h[i + 1].encode()) for i in range(0, len(h), 2)),
            )
        )
    return sorted(out)


def _read_kcli_consume(data_dir, topic):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "kcli",
            "--data-dir",
            str(data_dir),
            "consume",
            topic,
            "--from-beginning",
            "--output",
            "json",
        ],
        capture_output=True,
        check=True,
        timeout=READ_TIMEOUT_S,
    )
    out = []
    for line in result.stdout.decode().splitlines():
        m = json.loads(line)
        out.append(
            (
                m["partition"],
                m["offset"],
                m["timestamp"],
                m["key"].encode(),
                m["value"].encode(),
                tuple((k, v.encode()) for k, v in m["headers"]),
            )
        )
    return sorted(out)


def _read_store(data_dir, topic):
    store = Store(data_dir)
    return sorted(
        (p, r.offset, r.timestamp, bytes(r.key), bytes(r.value), tuple(r.headers))
        for p in range(PARTITIONS)
        for r in store.log(topic, p).read_records(0)
    )


@pytest.fixture(scope="module")
def topics(shared_server):
    """One topic per producer, each filled by that producer."""
    admin = CkAdminClient({"bootstrap.servers": shared_server.bootstrap})
    futures = admin.create_topics([CkNewTopic(f"from-{p}", PARTITIONS, 1) for p in PRODUCERS])
    for future in futures.values():
        future.result(30)
    b = shared_server.bootstrap
    _produce_kafka_python(b, "from-kafka-python", _expected("kafka-python"))
    _produce_confluent(b, "from-confluent-kafka", _expected("confluent-kafka"))
    _produce_kcat(b, "from-kcat", _expected("kcat"))
    _produce_kcli(shared_server.data_dir, "from-kcli", _expected("kcli"))
    return {p: f"from-{p}" for p in PRODUCERS}


@pytest.mark.parametrize("producer", PRODUCERS)
def test_every_client_reads_back_what_each_client_produced(shared_server, topics, producer):
    topic = topics[producer]
    reference = _read_store(shared_server.data_dir, topic)
    # What the producer sent, in the partition Kafka's murmur2 picks for its key, in order.
    assert sorted((k, v, h) for _, _, _, k, v, h in reference) == sorted(_expected(producer))
    for p, _, _, key, _, _ in reference:
        assert p == partition_for_key(key, PARTITIONS), key
    for p in range(PARTITIONS):
        offsets = [o for q, o, *_ in reference if q == p]
        assert offsets == list(range(len(offsets)))
    b = shared_server.bootstrap
    assert _read_kafka_python(b, topic) == reference
    assert _read_confluent(b, topic) == reference
    assert _read_kcat(b, topic) == reference
    assert _read_kcli_consume(shared_server.data_dir, topic) == reference


def test_kcat_lists_topics_and_the_broker(shared_server, topics):
    result = subprocess.run(
        ["kcat", "-b", shared_server.bootstrap, "-L", "-J"],
        capture_output=True,
        check=True,
        timeout=READ_TIMEOUT_S,
    )
    listing = json.loads(result.stdout)
    assert listing["brokers"] == [{"id": 0, "name": shared_server.bootstrap}]
    assert listing["controllerid"] == 0
    by_name = {t["topic"]: t for t in listing["topics"]}
    for topic in topics.values():
        assert [p["partition"] for p in by_name[topic]["partitions"]] == list(range(PARTITIONS))
        assert all(p["leader"] == 0 for p in by_name[topic]["partitions"])


def test_kafka_python_admin_creates_describes_and_deletes_topics(shared_server):
    admin = KafkaAdminClient(bootstrap_servers=shared_server.bootstrap)
    admin.create_topics([NewTopic("adm-kp", 3, 1, topic_configs={"retention.ms": "3600000"})])
    store = Store(shared_server.data_dir)
    assert store.topic("adm-kp").partitions == 3
    assert store.topic("adm-kp").overrides == {"retention.ms": 3600000}
    assert "adm-kp" in admin.list_topics()
    configs = admin.describe_configs([ConfigResource("TOPIC", "adm-kp")])
    assert configs["topic"]["adm-kp"]["retention.ms"]["value"] == "3600000"
    admin.delete_topics(["adm-kp"])
    assert not store.topic_exists("adm-kp")
    assert "adm-kp" not in admin.list_topics()
    admin.close()


def test_confluent_admin_creates_and_deletes_topics(shared_server):
    admin = CkAdminClient({"bootstrap.servers": shared_server.bootstrap})
    admin.create_topics([CkNewTopic("adm-ck", 2, 1, config={"cleanup.policy": "delete"})])[
        "adm-ck"
    ].result(30)
    store = Store(shared_server.data_dir)
    assert store.topic("adm-ck").partitions == 2
    assert admin.list_topics(timeout=30).topics["adm-ck"].partitions.keys() == {0, 1}
    with pytest.raises(Exception, match="TOPIC_ALREADY_EXISTS"):
        admin.create_topics([CkNewTopic("adm-ck", 2, 1)])["adm-ck"].result(30)
    admin.delete_topics(["adm-ck"])["adm-ck"].result(30)
    assert not store.topic_exists("adm-ck")


def test_compressed_batches_pass_through_untouched(shared_server):
    from storage.constants import COMPRESSION_MASK
    from storage.records import read_header

    store = Store(shared_server.data_dir)
    codecs = {"gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
    sent = {}
    for codec in codecs:
        topic = f"compressed-{codec}"
        store.create_topic(topic, 1)
        producer = CkProducer(
            {
                "bootstrap.servers": shared_server.bootstrap,
                "compression.type": codec,
                "linger.ms": 50,
            }
        )
        sent[topic] = [f"{codec} record {i} ".encode() * 20 for i in range(50)]
        for value in sent[topic]:
            producer.produce(topic, value=value)
        assert producer.flush(30) == 0
        log = store.log(topic, 0)
        log.check()  # every batch's CRC, as stored
        assert read_header(log.read(0).records).attributes & COMPRESSION_MASK == codecs[codec]
    consumer = CkConsumer({"bootstrap.servers": shared_server.bootstrap, "group.id": "cz"})
    consumer.assign([CkTopicPartition(t, 0, OFFSET_BEGINNING) for t in sent])
    got = {t: [] for t in sent}
    deadline = time.monotonic() + READ_TIMEOUT_S
    while sum(map(len, got.values())) < 200 and time.monotonic() < deadline:
        m = consumer.poll(0.5)
        if m is not None and not m.error():
            got[m.topic()].append(m.value())
    consumer.close()
    assert got == sent
