"""The produce/consume contract, through real ``kcli`` processes."""

from __future__ import annotations

import base64
import json
import os
import shlex
import signal
import subprocess
import time
from datetime import UTC, datetime

import pytest
from kafka.partitioner.default import murmur2 as kafka_python_murmur2

from storage import Store
from tests.conftest import json_lines, ok

WAIT_S = 60.0
# Recent enough to outlive retention.ms (7 days): a broker deletes older segments as soon as a
# new one rolls, which a cluster's batching may make happen between produce and consume.
AN_HOUR_AGO_MS = (int(time.time()) - 3600) * 1000


@pytest.fixture
def topic(kcli):
    ok(kcli("topic", "create", "t", "--partitions", "3"))
    return "t"


def test_values_from_arguments_round_trip_in_order(kcli):
    ok(kcli("topic", "create", "one"))
    produced = ok(kcli("produce", "one", "alpha", "beta", "gamma"))
    assert produced.stdout == ""  # the summary is not data
    assert "Produced 3 records to one" in produced.stderr
    assert "offsets 0..2" in produced.stderr
    consumed = ok(kcli("consume", "one"))
    assert consumed.stdout == "alpha\nbeta\ngamma\n"


def test_produce_json_output_names_each_record_written(kcli, topic):
    result = ok(kcli("produce", topic, "--partition", "1", "x", "y", "-o", "json"))
    rows = json_lines(result.stdout)
    assert rows == [
        {"topic": "t", "partition": 1, "offset": 0},
        {"topic": "t", "partition": 1, "offset": 1},
    ]


def test_keyed_records_go_where_kafka_would_put_them(kcli, topic):
    keys = [f"user-{i}" for i in range(20)]
    lines = "".join(f"{k}:v{i}\n" for i, k in enumerate(keys))
    result = ok(kcli("produce", topic, "--key-separator", ":", "-o", "json", input=lines))
    assert len(json_lines(result.stdout)) == 20
    records = json_lines(ok(kcli("consume", topic, "-o", "json")).stdout)
    assert sorted((r["key"], r["value"]) for r in records) == sorted(
        (k, f"v{i}") for i, k in enumerate(keys)
    )
    # kafka-python's murmur2 is an independent implementation of Kafka's partitioner.
    for r in records:
        assert r["partition"] == (kafka_python_murmur2(r["key"].encode()) & 0x7FFFFFFF) % 3
    assert len({r["partition"] for r in records}) == 3


def test_one_key_for_all_records_and_partition_override(kcli, topic):
    by_key = json_lines(ok(kcli("produce", topic, "--key", "k1", "a", "b", "-o", "json")).stdout)
    expected = (kafka_python_murmur2(b"k1") & 0x7FFFFFFF) % 3
    assert {r["partition"] for r in by_key} == {expected}
    forced = (expected + 1) % 3
    rows = ok(kcli("produce", topic, "--key", "k1", "--partition", str(forced), "c", "-o", "json"))
    assert json_lines(rows.stdout)[0]["partition"] == forced


def test_unkeyed_records_spread_round_robin(kcli, topic):
    rows = json_lines(ok(kcli("produce", topic, *[f"v{i}" for i in range(9)], "-o", "json")).stdout)
    assert sorted(r["partition"] for r in rows) == [0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_stdin_lines_stream_in_order_with_contiguous_offsets(kcli):
    ok(kcli("topic", "create", "lines"))
    n = 25_000
    body = "".join(f"line {i}\n" for i in range(n))
    result = ok(kcli("produce", "lines", input=body))
    assert f"Produced {n:,} records to lines" in result.stderr
    out = ok(kcli("consume", "lines", "--format", "%o %s\\n")).stdout.splitlines()
    assert out == [f"{i} line {i}" for i in range(n)]


def test_empty_lines_are_skipped_and_crlf_is_trimmed(kcli):
    ok(kcli("topic", "create", "e"))
    ok(kcli("produce", "e", input="a\r\n\r\n\nb\n\nc"))
    assert ok(kcli("consume", "e")).stdout == "a\nb\nc\n"


def test_consume_json_fields_and_headers(kcli, topic):
    ok(
        kcli(
            "produce",
            topic,
            "--partition",
            "2",
            "--key",
            "k",
            "--header",
            "src=web",
            "--header",
            "n=1",
            "v",
        )
    )
    (row,) = json_lines(ok(kcli("consume", topic, "-o", "json")).stdout)
    assert list(row) == ["topic", "partition", "offset", "timestamp", "key", "value", "headers"]
    assert row["topic"] == "t" and row["partition"] == 2 and row["offset"] == 0
    assert row["key"] == "k" and row["value"] == "v"
    assert row["headers"] == [["src", "web"], ["n", "1"]]
    now_ms = time.time() * 1000
    assert isinstance(row["timestamp"], int) and abs(row["timestamp"] - now_ms) < 3_600_000


def test_non_utf8_payloads_round_trip_through_json(kcli, data_dir):
    ok(kcli("topic", "create", "src", "--partitions", "2"))
    ok(kcli("topic", "create", "dst", "--partitions", "2"))
    raw_value = bytes(range(256))
    raw_key = b"\xff\xfekey"
    lines = [
        {
            "value_b64": base64.b64encode(raw_value).decode(),
            "key_b64": base64.b64encode(raw_key).decode(),
            "partition": 1,
            "timestamp": AN_HOUR_AGO_MS + 123,
            "headers_b64": [["bin", base64.b64encode(b"\x80\x81").decode()], ["none", None]],
        },
        {
            "value": "plain ✓ text",
            "key": None,
            "partition": 0,
            "timestamp": AN_HOUR_AGO_MS + 456,
            "headers": [["h", "v"]],
        },
        {"value": None, "key": "tombstone", "partition": 0},
    ]
    ok(
        kcli(
            "produce", "src", "--input", "json", input="".join(json.dumps(x) + "\n" for x in lines)
        )
    )
    first = ok(kcli("consume", "src", "-o", "json")).stdout
    rows = json_lines(first)
    binary = next(r for r in rows if r["partition"] == 1)
    assert isinstance(binary["value"], str) and "\ufffd" in binary["value"]
    assert base64.b64decode(binary["value_b64"]) == raw_value
    assert base64.b64decode(binary["key_b64"]) == raw_key
    assert binary["timestamp"] == AN_HOUR_AGO_MS + 123
    assert binary["headers_b64"] == [
        ["bin", base64.b64encode(b"\x80\x81").decode()],
        ["none", None],
    ]
    tombstone = next(r for r in rows if r["key"] == "tombstone")
    assert tombstone["value"] is None
    # A faithful copy: the consumer's JSON fed to the producer gives the same bytes.
    ok(kcli("produce", "dst", "--input", "json", input=first))
    store = Store(data_dir)
    for p in range(2):
        src = store.log("src", p).read_records(0)
        dst = store.log("dst", p).read_records(0)
        assert [(r.key, r.value, r.headers, r.timestamp, r.offset) for r in src] == [
            (r.key, r.value, r.headers, r.timestamp, r.offset) for r in dst
        ]
    assert store.log("src", 1).read_records(0)[0].value == raw_value


def test_consume_a_pipe_of_json_into_produce(kcli, topic):
    ok(kcli("produce", topic, *[f"m{i}" for i in range(30)]))
    ok(kcli("topic", "create", "copy", "--partitions", "3"))
    env = {k: v for k, v in os.environ.items() if k != "KCLI_DATA_DIR"}
    reader = subprocess.Popen(
        kcli.argv("consume", topic, "-o", "json"), stdout=subprocess.PIPE, env=env
    )
    writer = subprocess.run(
        kcli.argv("produce", "copy", "--input", "json"),
        stdin=reader.stdout,
        capture_output=True,
        env=env,
        timeout=WAIT_S,
    )
    reader.stdout.close()
    assert reader.wait(timeout=WAIT_S) == 0
    assert writer.returncode == 0, writer.stderr
    original = json_lines(ok(kcli("consume", topic, "-o", "json")).stdout)
    copied = json_lines(ok(kcli("consume", "copy", "-o", "json")).stdout)

    # Offset order holds within a partition; how partitions interleave is up to the fetches
    # (on a cluster, to when each broker answers).
    def strip(rows):
        rows = sorted(rows, key=lambda r: (r["partition"], r["offset"]))
        return [{k: v for k, v in r.items() if k != "topic"} for r in rows]

    assert strip(copied) == strip(original)


def test_earlier_lines_are_kept_when_a_later_line_is_bad(kcli):
    ok(kcli("topic", "create", "j"))
    body = '{"value": "one"}\n{"value": "two"}\n{"value": oops}\n{"value": "four"}\n'
    result = kcli("produce", "j", "--input", "json", input=body)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: line 3 ")
    assert "stored lines 1-2 (nothing after them)" in result.stderr
    assert ok(kcli("consume", "j")).stdout == "one\ntwo\n"


def test_offsets_positive_negative_and_out_of_range(kcli):
    ok(kcli("topic", "create", "o"))
    ok(kcli("produce", "o", *[f"r{i}" for i in range(5)]))
    assert ok(kcli("consume", "o", "--from-offset", "3")).stdout == "r3\nr4\n"
    assert ok(kcli("consume", "o", "--from-offset", "-1")).stdout == "r4\n"
    assert ok(kcli("consume", "o", "--from-offset", "-2")).stdout == "r3\nr4\n"
    assert ok(kcli("consume", "o", "--from-offset", "-50")).stdout.count("\n") == 5
    assert ok(kcli("consume", "o", "--from-offset", "5")).stdout == ""  # the log end: valid
    assert ok(kcli("consume", "o", "--from-end")).stdout == ""
    bad = kcli("consume", "o", "--from-offset", "6")
    assert bad.returncode == 1
    assert "valid offsets are 0..5" in bad.stderr


def test_max_messages_and_one_record_by_partition_and_offset(kcli, topic):
    ok(kcli("produce", topic, "--partition", "1", "a", "b", "c"))
    one = ok(
        kcli("consume", topic, "--partition", "1", "--from-offset", "1", "--max-messages", "1")
    )
    assert one.stdout == "b\n"
    two = ok(kcli("consume", topic, "--max-messages", "2"))
    assert two.stdout == "a\nb\n"


def test_from_time_iso_and_relative(kcli):
    # Records from 2023 would be past the default retention.ms (7 days) at the next roll.
    ok(kcli("topic", "create", "tm", "--config", "retention.ms=-1"))
    base = 1_700_000_000_000
    rows = [{"value": f"v{i}", "timestamp": base + i * 60_000} for i in range(5)]
    ok(kcli("produce", "tm", "--input", "json", input="".join(json.dumps(r) + "\n" for r in rows)))
    iso = datetime.fromtimestamp((base + 2 * 60_000) / 1000, tz=UTC).isoformat()
    assert ok(kcli("consume", "tm", "--from-time", iso)).stdout == "v2\nv3\nv4\n"
    ok(kcli("produce", "tm", "fresh"))  # timestamp: now
    assert ok(kcli("consume", "tm", "--from-time", "-1h")).stdout == "fresh\n"
    assert ok(kcli("consume", "tm", "--from-time", "2001-01-01")).stdout.count("\n") == 6


def test_format_tokens_and_print_key(kcli, topic):
    ok(kcli("produce", topic, "--partition", "0", "--key", "k", "--header", "a=1", "val"))
    row = json_lines(ok(kcli("consume", topic, "-o", "json")).stdout)[0]
    out = ok(kcli("consume", topic, "--format", "%t|%p|%o|%k|%s|%T|%h|%K|%S|%%\\t.\\n")).stdout
    assert out == f"t|0|0|k|val|{row['timestamp']}|a=1|1|3|%\t.\n"
    assert ok(kcli("consume", topic, "--print-key")).stdout == "k\tval\n"


def test_table_view_shows_partition_offset_and_key(kcli, topic):
    ok(kcli("produce", topic, "--partition", "2", "--key", "who", "hello"))
    out = ok(kcli("consume", topic, "-o", "table")).stdout
    assert out.split() == ["partition", "2", "offset", "0", "who", "→", "hello"]
    assert "\x1b[" not in out  # no colours outside a terminal


def _spawn(kcli, *args):
    env = {k: v for k, v in os.environ.items() if k != "KCLI_DATA_DIR"}
    env["PYTHONUNBUFFERED"] = "1"
    return subprocess.Popen(
        kcli.argv(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_follow_waits_for_new_records_and_stops_cleanly(kcli, sig):
    ok(kcli("topic", "create", "f", "--partitions", "2"))
    ok(kcli("produce", "f", "old"))
    follower = _spawn(kcli, "consume", "f", "--follow")
    try:
        assert follower.stdout.readline() == "old\n"
        ok(kcli("produce", "f", "new"))
        assert follower.stdout.readline() == "new\n"
        follower.send_signal(sig)
        out, err = follower.communicate(timeout=WAIT_S)
    finally:
        if follower.poll() is None:
            follower.kill()
    assert follower.returncode == 0, err
    assert "Traceback" not in err
    assert out == ""


def test_group_consumes_once_and_reports_its_assignment(kcli, topic):
    ok(kcli("produce", topic, *[f"v{i}" for i in range(6)]))
    first = ok(kcli("consume", topic, "--group", "g", "--session-timeout-ms", "6000"))
    assert sorted(first.stdout.split()) == [f"v{i}" for i in range(6)]
    assert "assigned: t-0, t-1, t-2" in first.stderr
    again = ok(kcli("consume", topic, "--group", "g", "--session-timeout-ms", "6000"))
    assert again.stdout == ""
    ok(kcli("produce", topic, "late"))
    last = ok(kcli("consume", topic, "--group", "g", "--session-timeout-ms", "6000", "-o", "json"))
    assert [r["value"] for r in json_lines(last.stdout)] == ["late"]


def test_group_commits_only_what_was_printed(kcli, topic):
    ok(kcli("produce", topic, "--partition", "0", *[f"v{i}" for i in range(10)]))
    part = ok(kcli("consume", topic, "--group", "h", "--max-messages", "4"))
    assert part.stdout == "v0\nv1\nv2\nv3\n"
    rest = ok(kcli("consume", topic, "--group", "h"))
    assert rest.stdout == "".join(f"v{i}\n" for i in range(4, 10))


def test_a_reader_that_leaves_early_is_not_an_error(kcli):
    ok(kcli("topic", "create", "h"))
    ok(kcli("produce", "h", input="".join(f"{i}\n" for i in range(50_000))))
    kcli_cmd = shlex.join(kcli.argv("consume", "h"))
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", f"{kcli_cmd} | head -n 2"],
        capture_output=True,
        text=True,
        timeout=WAIT_S,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "0\n1\n"
    assert "Traceback" not in result.stderr and "Error" not in result.stderr


def test_lines_typed_slowly_are_written_before_the_input_ends(kcli, data_dir):
    ok(kcli("topic", "create", "typed"))
    env = {k: v for k, v in os.environ.items() if k != "KCLI_DATA_DIR"}
    proc = subprocess.Popen(
        kcli.argv("produce", "typed"),
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        proc.stdin.write(b"first line\n")
        proc.stdin.flush()
        log = Store(data_dir).log("typed", 0)
        deadline = time.monotonic() + WAIT_S
        while log.log_end_offset < 1:  # durable and visible while the producer still waits
            assert time.monotonic() < deadline, "the line was not written while stdin stayed open"
            time.sleep(0.05)
        assert log.read_records(0)[0].value == b"first line"
        proc.stdin.write(b"second line\n")
        proc.stdin.close()
        assert proc.wait(timeout=WAIT_S) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert [r.value for r in Store(data_dir).log("typed", 0).read_records(0)] == [
        b"first line",
        b"second line",
    ]
