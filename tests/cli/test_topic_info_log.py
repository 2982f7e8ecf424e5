"""`kcli topic`, `kcli info`, `kcli log dump` and `kcli perf`, through real processes."""

from __future__ import annotations

import pytest

from storage import CONFIG_KEYS, Store
from tests.conftest import json_lines, ok

# A cluster's admin API shows no files: sizes and segment counts are null there.
NO_FILES = {"size_bytes": None, "segments": None}


def test_create_list_describe_alter_delete(kcli):
    created = ok(
        kcli("topic", "create", "a", "--partitions", "2", "--config", "retention.ms=60000")
    )
    assert created.stdout == ""
    assert "Created topic a with 2 partitions" in created.stderr
    ok(kcli("topic", "create", "b"))
    again = ok(kcli("topic", "create", "a", "--if-not-exists"))
    assert "already exists" in again.stderr
    assert json_lines(ok(kcli("topic", "list", "-o", "json")).stdout) == [
        {"topic": "a", "partitions": 2},
        {"topic": "b", "partitions": 1},
    ]
    assert ok(kcli("topic", "list")).stdout == "a\nb\n"
    ok(kcli("produce", "a", "--partition", "1", "x", "y"))
    (desc,) = json_lines(ok(kcli("topic", "describe", "a", "-o", "json")).stdout)
    assert list(desc) == ["topic", "partitions", "config"]
    files = {"size_bytes": 0, "segments": 1} if kcli.backend == "local" else NO_FILES
    if kcli.backend != "local":  # a cluster also says where the copies are (one broker: 0)
        files = {**files, "leader": 0, "replicas": [0], "isr": [0]}
    assert desc["partitions"][0] == {
        "partition": 0,
        "log_start_offset": 0,
        "log_end_offset": 0,
        **files,
    }
    assert desc["partitions"][1]["log_end_offset"] == 2
    if kcli.backend == "local":
        assert desc["partitions"][1]["size_bytes"] > 0
    assert sorted(desc["config"]) == sorted(CONFIG_KEYS)
    assert desc["config"]["retention.ms"] == 60000
    assert desc["config"]["segment.bytes"] == 1073741824  # Kafka's default, effective
    ok(kcli("topic", "alter", "a", "--partitions", "4", "--config", "retention.ms=1000"))
    (desc,) = json_lines(ok(kcli("topic", "describe", "a", "-o", "json")).stdout)
    assert len(desc["partitions"]) == 4 and desc["config"]["retention.ms"] == 1000
    ok(kcli("topic", "delete", "b"))
    assert ok(kcli("topic", "list")).stdout == "a\n"


def test_describe_plain_is_kafka_topics_style(kcli):
    ok(kcli("topic", "create", "k", "--partitions", "2", "--config", "segment.bytes=1000"))
    lines = ok(kcli("topic", "describe", "k")).stdout.splitlines()
    assert lines[0].startswith("Topic: k\tTopicId: ")
    assert lines[0].endswith("\tPartitionCount: 2\tConfigs: segment.bytes=1000")
    files = "Size: 0\tSegments: 1" if kcli.backend == "local" else "Size: -\tSegments: -"
    # A cluster says where the copies are, as kafka-topics --describe does (one broker: 0).
    copies = "" if kcli.backend == "local" else "Leader: 0\tReplicas: 0\tIsr: 0\t"
    assert lines[1] == (
        f"\tTopic: k\tPartition: 0\t{copies}LogStartOffset: 0\tLogEndOffset: 0\t{files}"
    )


@pytest.mark.local_only("segments and retention run by the test are the local store's")
def test_describe_picture_shows_segments_and_retention_at_80_columns(kcli, data_dir):
    ok(kcli("topic", "create", "pic", "--partitions", "2", "--config", "segment.bytes=200"))
    for i in range(8):
        ok(kcli("produce", "pic", "--partition", "0", f"record {i}a", f"record {i}b"))
    ok(kcli("produce", "pic", "--partition", "1", "lonely"))
    ok(kcli("topic", "alter", "pic", "--config", "retention.bytes=400"))
    Store(data_dir).apply_retention("pic")
    out = ok(kcli("topic", "describe", "pic", "-o", "table", env={"COLUMNS": "80"})).stdout
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    assert "Offsets, left to right" in out
    axis = next(i for i, line in enumerate(lines) if line.startswith("Offsets")) + 1
    assert lines[axis].split() == [str(o) for o in range(16)]  # one column per offset
    bar0 = next(line for line in lines if line.startswith(" p0 "))
    bar1 = next(line for line in lines if line.startswith(" p1 "))
    blocks = bar0.split()[1:-2]  # one block per offset, then "N segments"
    assert len(blocks) == 16
    start = Store(data_dir).log("pic", 0).log_start_offset
    assert start > 0
    assert all(set(b) == {"░"} for b in blocks[:start])  # removed by retention
    assert {b[0] for b in blocks[start:]} == {"█", "▓"}  # segments alternate shades
    assert bar0.endswith("segments")
    assert bar1.split()[1:] == [bar1.split()[1], "1", "segment"]  # one record, one segment
    assert "retention.bytes" in out and "set for this topic" in out


def test_describe_picture_draws_every_offset_and_what_is_known_of_segments(kcli):
    ok(kcli("topic", "create", "pic", "--partitions", "2", "--config", "segment.bytes=200"))
    ok(kcli("produce", "pic", "--partition", "0", *[f"record {i}" for i in range(16)]))
    ok(kcli("produce", "pic", "--partition", "1", "lonely"))
    out = ok(kcli("topic", "describe", "pic", "-o", "table", env={"COLUMNS": "80"})).stdout
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    bar0 = next(line for line in lines if line.startswith(" p0 "))
    bar1 = next(line for line in lines if line.startswith(" p1 "))
    blocks = bar0.split()[1:-2]  # one block per offset, then the label
    assert len(blocks) == 16 and {b[0] for b in blocks} == {"█"}
    if kcli.backend == "local":
        assert bar0.endswith("1 segment") and bar1.endswith("1 segment")
    else:  # the admin API shows offsets, not segments
        assert "no segments shown" in out
        assert bar0.endswith("16 records") and bar1.endswith("1 record")


def test_info(kcli, data_dir):
    ok(kcli("topic", "create", "i", "--partitions", "3"))
    ok(kcli("produce", "i", "hello"))
    (info,) = json_lines(ok(kcli("info", "-o", "json")).stdout)
    assert info["version"] and info["topics"] == 1 and info["partitions"] == 3
    assert info["cluster_id"] == Store(data_dir).cluster_id
    plain = ok(kcli("info")).stdout
    if kcli.backend == "local":
        assert info["data_dir"] == str(data_dir) and info["size_bytes"] > 0
        assert f"data_dir: {data_dir}" in plain
    else:  # where the cluster is instead of a directory; a broker shows no sizes
        bootstrap = kcli.global_args[-1]
        assert info["bootstrap_servers"] == bootstrap and "size_bytes" not in info
        assert (info["from"], info["security_protocol"], info["brokers"]) == (
            "--bootstrap-server",
            "PLAINTEXT",
            1,
        )
        assert f"bootstrap_servers: {bootstrap}" in plain


@pytest.mark.local_only("log dump reads the local store's files")
def test_log_dump_batches_records_index_and_a_bad_crc(kcli, data_dir):
    ok(
        kcli(
            "topic",
            "create",
            "d",
            "--config",
            "segment.bytes=300",
            "--config",
            "index.interval.bytes=100",
        )
    )
    for i in range(6):
        ok(kcli("produce", "d", f"first {i}", f"second {i}"))
    rows = json_lines(ok(kcli("log", "dump", "d", "--records", "--index", "-o", "json")).stdout)
    segments = [r for r in rows if r["type"] == "segment"]
    batches = [r for r in rows if r["type"] == "batch"]
    records = [r for r in rows if r["type"] == "record"]
    assert len(segments) >= 2
    assert [b["base_offset"] for b in batches] == list(range(0, 12, 2))
    assert all(b["crc_valid"] and b["count"] == 2 and b["magic"] == 2 for b in batches)
    assert [r["offset"] for r in records] == list(range(12))
    assert records[3]["value"] == "second 1"
    assert any(r["type"] == "index" for r in rows)
    assert any(r["type"] == "timeindex" for r in rows)
    # Each index entry points at the batch holding its offset.
    for entry in (r for r in rows if r["type"] == "index"):
        batch = next(
            b
            for b in batches
            if b["position"] == entry["position"] and b["segment"][:20] == entry["segment"][:20]
        )
        assert batch["base_offset"] <= entry["offset"] <= batch["last_offset"]
    # Damage one byte of a closed segment's first record: the dump shows it, changes nothing.
    path = Store(data_dir).log("d", 0).segments()[0].path
    data = bytearray(path.read_bytes())
    data[70] ^= 0xFF
    path.write_bytes(bytes(data))
    result = ok(kcli("log", "dump", "d"))
    assert "isvalid: false" in result.stdout
    assert "CRC-32C" in result.stderr
    assert path.read_bytes() == bytes(data)


@pytest.mark.local_only("log dump reads the local store's files")
def test_log_dump_plain_is_kafka_dump_log_style(kcli):
    ok(kcli("topic", "create", "p"))
    ok(kcli("produce", "p", "--key", "k", "hello"))
    lines = ok(kcli("log", "dump", "p", "--records")).stdout.splitlines()
    assert lines[0] == "Dumping p-0/00000000000000000000.log"
    assert lines[1] == "Log starting offset: 0"
    assert lines[2].startswith("baseOffset: 0 lastOffset: 0 count: 1 ")
    assert "isvalid: true" in lines[2] and "magic: 2" in lines[2]
    assert lines[3].startswith("| offset: 0 CreateTime: ")
    assert lines[3].endswith("key: k payload: hello")


def test_perf_produce_and_consume_report(kcli):
    ok(kcli("topic", "create", "perf", "--partitions", "2"))
    (produced,) = json_lines(
        ok(kcli("perf", "produce", "perf", "-n", "3000", "-s", "50", "-o", "json")).stdout
    )
    assert produced["test"] == "produce" and produced["records"] == 3000
    assert produced["bytes"] == 150_000
    assert produced["records_per_sec"] > 0
    assert (
        0 <= produced["p50_latency_ms"] <= produced["p99_latency_ms"] <= produced["max_latency_ms"]
    )
    (consumed,) = json_lines(ok(kcli("perf", "consume", "perf", "-n", "2000", "-o", "json")).stdout)
    assert consumed["records"] == 2000 and consumed["bytes"] == 100_000
    plain = ok(kcli("perf", "consume", "perf", "-n", "9999"))
    assert plain.stdout.startswith("3000 records consumed, ")
    assert "only 3,000 records" in plain.stderr
