"""The Producer: confluent-kafka's API over a real store in a temporary directory."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.partitioner.default import murmur2 as kafka_python_murmur2

from kcli.client.types import (
    TIMESTAMP_CREATE_TIME,
    TIMESTAMP_LOG_APPEND_TIME,
    KafkaError,
    KafkaException,
)
from kcli.local.producer import Producer
from storage import Store


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "data")
    s.create_topic("t", 3)
    s.create_topic("one", 1)
    return s


@pytest.fixture
def producer(store):
    p = Producer({"data.dir": str(store.data_dir), "client.id": "test"})
    yield p
    p.close()


def records(store, topic, partition):
    return store.log(topic, partition).read_records(0)


def test_delivery_reports_come_after_the_data_is_on_disk(store, producer):
    reports = []

    def on_delivery(err, msg):
        # The record is readable from the log when its report arrives.
        (found,) = [
            r for r in records(store, msg.topic(), msg.partition()) if r.offset == msg.offset()
        ]
        reports.append((err, msg, found))

    producer.produce("one", "hello", key=b"k", on_delivery=on_delivery, headers={"h": "v"})
    assert len(producer) == 1
    assert reports == []  # queued, not written: nothing is reported before poll()/flush()
    assert store.log("one", 0).log_end_offset == 0
    assert producer.flush() == 0
    assert len(producer) == 0
    ((err, msg, found),) = reports
    assert err is None
    assert (msg.topic(), msg.partition(), msg.offset()) == ("one", 0, 0)
    assert msg.value() == b"hello" and msg.key() == b"k"
    assert msg.timestamp()[0] == TIMESTAMP_CREATE_TIME and msg.timestamp()[1] == found.timestamp
    assert found.value == b"hello" and found.headers == (("h", b"v"),)


def test_str_is_utf8_and_explicit_timestamps_are_kept(store, producer):
    producer.produce("one", value="grüße", key="schlüssel", timestamp=1_700_000_000_000)
    producer.flush()
    (r,) = records(store, "one", 0)
    assert r.value == "grüße".encode() and r.key == "schlüssel".encode()
    assert r.timestamp == 1_700_000_000_000


def test_keys_use_kafkas_murmur2_and_unkeyed_records_round_robin(store, producer):
    keys = [f"key-{i}".encode() for i in range(30)]
    for k in keys:
        producer.produce("t", b"v", key=k)
    for i in range(6):
        producer.produce("t", f"u{i}".encode())
    producer.flush()
    placed = {}
    unkeyed = []
    for p in range(3):
        for r in records(store, "t", p):
            if r.key is None:
                unkeyed.append(p)
            else:
                placed[r.key] = p
    assert placed == {k: (kafka_python_murmur2(k) & 0x7FFFFFFF) % 3 for k in keys}
    assert sorted(unkeyed) == [0, 0, 1, 1, 2, 2]


def test_explicit_partition_and_its_errors(store, producer):
    producer.produce("t", b"x", partition=2)
    producer.flush()
    assert [r.value for r in records(store, "t", 2)] == [b"x"]
    with pytest.raises(KafkaException) as info:
        producer.produce("t", b"x", partition=3)
    assert info.value.args[0].code() == KafkaError._UNKNOWN_PARTITION
    with pytest.raises(KafkaException) as info:
        producer.produce("missing", b"x")
    assert info.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    with pytest.raises(TypeError):
        producer.produce("t", 42)


def test_a_record_over_max_message_bytes_is_refused_at_once(store):
    store.create_topic("small", 1, {"max.message.bytes": "300"})
    p = Producer({"data.dir": str(store.data_dir)})
    p.produce("small", b"x" * 100)
    with pytest.raises(KafkaException) as info:
        p.produce("small", b"x" * 400)
    assert info.value.args[0].code() == KafkaError.MSG_SIZE_TOO_LARGE
    assert "max.message.bytes=300" in str(info.value)
    assert p.flush() == 0
    assert [len(r.value) for r in records(store, "small", 0)] == [100]


def test_unknown_config_keys_are_refused_like_confluent_kafka(store):
    with pytest.raises(KafkaException) as info:
        Producer({"data.dir": str(store.data_dir), "no.such.key": 1})
    assert "No such configuration property" in str(info.value)
    # Keys that only matter on a network are accepted, so scripts run unchanged (but
    # bootstrap.servers is not ignored: with it, the producer talks to that cluster).
    Producer({"data.dir": str(store.data_dir), "acks": "all", "security.protocol": "PLAINTEXT"})


def test_one_append_per_partition_per_flush(store, producer):
    for i in range(500):
        producer.produce("one", f"r{i}".encode())
    producer.flush()
    dump = store.log("one", 0).read(0, 1 << 20).records
    from storage.records import split_batches

    # 500 records, written with one append: whole batches of up to 1000 records.
    assert len(split_batches(dump)) == 1
    assert [r.value for r in records(store, "one", 0)] == [f"r{i}".encode() for i in range(500)]


def test_poll_writes_after_linger_and_serves_reports(store):
    p = Producer({"data.dir": str(store.data_dir), "linger.ms": 0})
    got = []
    p.produce("one", b"a", on_delivery=lambda err, msg: got.append(msg.offset()))
    assert p.poll(0) == 1
    assert got == [0]
    assert p.poll(0) == 0


def test_full_buffers_are_written_without_waiting(store):
    p = Producer({"data.dir": str(store.data_dir), "batch.num.messages": 10})
    for _ in range(25):
        p.produce("one", b"x")
    assert store.log("one", 0).log_end_offset == 20  # two full batches written
    p.flush()
    assert store.log("one", 0).log_end_offset == 25


def test_queue_full_raises_buffer_error(store):
    p = Producer({"data.dir": str(store.data_dir), "queue.buffering.max.messages": 5})
    for _ in range(5):
        p.produce("one", b"x", on_delivery=lambda err, msg: None)
    with pytest.raises(BufferError):
        p.produce("one", b"x")
    p.flush()
    p.produce("one", b"x")


def test_purge_drops_queued_records_and_reports_them(store, producer):
    errors = []
    producer.produce("one", b"gone", on_delivery=lambda err, msg: errors.append(err))
    producer.purge()
    assert producer.flush() == 0
    assert [e.code() for e in errors] == [-152]  # _PURGE_QUEUE
    assert store.log("one", 0).log_end_offset == 0


def test_log_append_time_is_reported(store):
    store.create_topic("lat", 1, {"message.timestamp.type": "LogAppendTime"})
    p = Producer({"data.dir": str(store.data_dir)})
    got = []
    p.produce("lat", b"x", timestamp=1, on_delivery=lambda err, msg: got.append(msg.timestamp()))
    p.flush()
    ((kind, ts),) = got
    assert kind == TIMESTAMP_LOG_APPEND_TIME and ts > 1_600_000_000_000
    assert records(store, "lat", 0)[0].timestamp == ts


def test_a_failed_write_is_reported_not_lost(store, producer):
    errors = []
    producer.produce("one", b"x", on_delivery=lambda err, msg: errors.append(err))
    store.delete_topic("one")
    producer.flush()
    assert len(errors) == 1 and errors[0] is not None
    assert "one" in errors[0].str()


def test_produce_batch_marks_failures_and_queues_the_rest(store, producer):
    messages = [{"value": b"a"}, {"value": b"b", "partition": 9}, {"value": "c", "key": "k"}]
    assert producer.produce_batch("t", messages) == 2
    assert messages[1]["_error"].code() == KafkaError._UNKNOWN_PARTITION
    assert "_error" not in messages[0]
    producer.flush()
    values = sorted(r.value for p in range(3) for r in records(store, "t", p))
    assert values == [b"a", b"c"]


def test_produce_many_stops_at_the_first_bad_value(store):
    store.create_topic("small", 2, {"max.message.bytes": "200"})
    p = Producer({"data.dir": str(store.data_dir)})
    with pytest.raises(KafkaException) as info:
        p.produce_many("small", [b"a", b"b", b"x" * 500, b"c"])
    assert info.value.queued == 2
    p.flush()
    values = sorted(r.value for q in range(2) for r in records(store, "small", q))
    assert values == [b"a", b"b"]
    assert p.produce_many("small", [b"d", b"e", b"f", b"g"], key=b"same") == 4
    p.flush()
    expected = (kafka_python_murmur2(b"same") & 0x7FFFFFFF) % 2
    assert [r.value for r in records(store, "small", expected)][-4:] == [b"d", b"e", b"f", b"g"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=300), min_size=1, max_size=300))
def test_bulk_values_encode_exactly_as_the_general_encoder(values):
    """produce_many hands bare values to the encoder's fast paths: same bytes as record by
    record (the varied-length path is switched off for the reference)."""
    import storage.records as records_module

    fast = records_module.encode_batch(values, timestamp=1_700_000_000_000)
    saved = records_module._VARIED_MAX
    records_module._VARIED_MAX = -1
    try:
        slow = records_module.encode_batch(
            [records_module.ProducerRecord(v) for v in values], timestamp=1_700_000_000_000
        )
    finally:
        records_module._VARIED_MAX = saved
    assert fast == slow
    assert [r.value for r in records_module.decode_batch(fast)] == values


def test_stdin_like_values_of_every_length_round_trip(store):
    values = [b"x" * n for n in (0, 1, 62, 63, 64, 127, 128, 8191, 8192, 16000, 20000)] * 13
    p = Producer({"data.dir": str(store.data_dir)})
    p.produce_many("one", values)
    p.flush()
    assert [r.value for r in records(store, "one", 0)] == values


def test_a_null_value_stays_null_on_every_path(store, producer):
    """A tombstone is a null value, never empty bytes: produce, produce_batch, produce_many."""
    producer.produce("one", None, key=b"k1")
    producer.produce_batch("one", [{"key": b"k2", "value": None}, {"value": b""}])
    producer.produce_many("one", [None], key=b"k3")
    assert producer.flush() == 0
    got = [(r.key, r.value) for r in records(store, "one", 0)]
    assert got == [(b"k1", None), (b"k2", None), (None, b""), (b"k3", None)]


@pytest.mark.parametrize(
    ("codec", "number"), [("none", 0), ("gzip", 1), ("snappy", 2), ("lz4", 3), ("zstd", 4)]
)
def test_compression_type_compresses_each_batch(store, codec, number):
    from storage.records import read_header

    p = Producer({"data.dir": str(store.data_dir), "compression.type": codec})
    values = [f"value {i} of a compressible run".encode() for i in range(300)]
    for v in values:
        p.produce("one", v, key=b"k")
    p.close()
    assert [r.value for r in records(store, "one", 0)] == values
    (segment,) = sorted((store.data_dir / "one-0").glob("*.log"))
    raw = segment.read_bytes()
    header = read_header(raw)
    assert header.attributes & 0x07 == number
    if number:
        assert header.size + 12 < len(b"".join(values))  # really smaller


def test_acks_and_compression_values_are_checked(store):
    for acks in ("0", "1", "all", "-1", 0, 1, -1):
        Producer({"data.dir": str(store.data_dir), "acks": acks}).close()
    with pytest.raises(KafkaException, match="invalid acks"):
        Producer({"data.dir": str(store.data_dir), "acks": "2"})
    with pytest.raises(KafkaException, match="invalid compression.type 'brotli'"):
        Producer({"data.dir": str(store.data_dir), "compression.type": "brotli"})


def test_a_timestamp_beyond_9999_is_refused_before_it_is_queued(store, producer):
    producer.produce("one", b"kept", timestamp=1_700_000_000_000)
    for bad in (2**63, 99999999999999999999, 253402300800000):
        with pytest.raises(KafkaException, match="invalid timestamp"):
            producer.produce("one", b"bad", timestamp=bad)
    batch = [{"value": b"bad", "timestamp": 2**64}]
    assert producer.produce_batch("one", batch) == 0
    assert "invalid timestamp" in batch[0]["_error"].str()
    assert producer.flush() == 0
    assert [r.value for r in records(store, "one", 0)] == [b"kept"]
