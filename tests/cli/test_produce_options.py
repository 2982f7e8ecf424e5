"""`kcli produce` options for what a Kafka producer chooses: tombstones (null values),
compression codecs and acks; each test runs on the local store and on a cluster."""

from __future__ import annotations

import json

import pytest

from tests.conftest import json_lines, ok, run_kcli

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def test_tombstones_from_the_flag_and_from_json_null_stay_null(kcli):
    ok(kcli("topic", "create", "users"))
    ok(kcli("produce", "users", "--key", "alice", "v1"))
    ok(kcli("produce", "users", "--key", "alice", "--tombstone"))
    lines = [
        {"key": "bob", "value": None},
        {"key": "carol", "value": ""},  # an empty value is not a tombstone
        {"value": None},  # no key either: a null value
    ]
    ok(kcli("produce", "users", "-i", "json", input="".join(json.dumps(x) + "\n" for x in lines)))
    records = json_lines(ok(kcli("consume", "users", "-o", "json")).stdout)
    assert [(r["key"], r["value"]) for r in records] == [
        ("alice", "v1"),
        ("alice", None),
        ("bob", None),
        ("carol", ""),
        (None, None),
    ]
    plain = ok(kcli("consume", "users", "-o", "plain", "--print-key")).stdout
    assert plain.splitlines() == [
        "alice\tv1",
        "alice\t(tombstone)",
        "bob\t(tombstone)",
        "carol\t",
        "\t(null)",
    ]
    lengths = ok(kcli("consume", "users", "--format", "%S\\n")).stdout
    assert lengths.split() == ["2", "-1", "-1", "0", "-1"]


@pytest.mark.parametrize("codec", CODECS)
def test_each_codec_is_written_and_read_back(kcli, data_dir, codec):
    topic = f"z-{codec}"
    ok(kcli("topic", "create", topic))
    values = [f"reading {i:04d} of a compressible sensor stream" for i in range(500)]
    result = ok(kcli("produce", topic, "--compression", codec, input="\n".join(values) + "\n"))
    assert "Produced 500 records" in result.stderr
    assert ok(kcli("consume", topic, "-o", "plain")).stdout.splitlines() == values
    # The batches on disk carry the codec (on a cluster, the broker's own files).
    dump = ok(run_kcli(data_dir, "log", "dump", topic)).stdout
    codecs = {part.split()[0] for part in dump.split("compresscodec: ")[1:]}
    # librdkafka sends a batch uncompressed when compressing would not make it smaller (a
    # batch of one short record, say); every other batch carries the codec.
    assert codec in codecs and codecs <= {codec, "none"}, dump[:500]


@pytest.mark.parametrize("acks", ["0", "1", "all", "-1"])
def test_every_acks_value_stores_the_records(kcli, acks):
    ok(kcli("topic", "create", "acked"))
    result = ok(kcli("produce", "acked", "--acks", acks, "-o", "json", "a", "b"))
    offsets = [r["offset"] for r in json_lines(result.stdout)]
    if acks == "0" and kcli.backend == "remote":
        assert offsets == [-1, -1]  # no answer from the cluster: no offset, as in Kafka
    else:
        assert offsets == [0, 1]  # the local store appends and fsyncs whatever acks says
    assert ok(kcli("consume", "acked", "-o", "plain")).stdout.splitlines() == ["a", "b"]


def test_perf_produce_takes_acks_and_compression(kcli):
    ok(kcli("topic", "create", "perf"))
    result = ok(
        kcli("perf", "produce", "perf", "-n", "300", "-s", "50", "--acks", "1", "-z", "lz4")
    )
    assert "300" in result.stdout
    assert len(ok(kcli("consume", "perf", "-o", "plain")).stdout.splitlines()) == 300


def test_batches_kcli_compresses_are_read_by_librdkafka_through_kcli_serve(tmp_path):
    """What the local store writes with --compression, a real Kafka client decodes."""
    from tests.serve.helpers import ServeProcess

    data = tmp_path / "data"
    ok(run_kcli(data, "topic", "create", "mixed"))
    expected = []
    for codec in CODECS:
        values = [f"{codec} {i}" for i in range(20)]
        ok(run_kcli(data, "produce", "mixed", "-z", codec, input="\n".join(values) + "\n"))
        expected += values
    server = ServeProcess(data, tmp_path / "serve.log").start()
    try:
        read = ok(run_kcli(tmp_path, "--bootstrap-server", server.bootstrap, "consume", "mixed"))
    finally:
        server.stop()
    assert read.stdout.splitlines() == expected
