"""Every user mistake: one ``Error:`` line, the right exit code, no traceback, no change on disk.

One store is set up for the whole module; each case runs a real ``kcli`` process against it
and the data directory is hashed (every file's path and bytes) before and after.  The corpus
runs twice: on the local store, and against a Kafka cluster (`kcli serve`, whose data
directory is hashed) through --bootstrap-server, where the errors are the same.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import json_lines, run_kcli

LONG_NAME = "t" * 250


def store_digest(root: Path) -> str:
    """Names and contents of every file under ``root``: any change on disk changes it."""
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        h.update(rel.encode() + b"\0")
        if path.is_file():
            h.update(path.read_bytes())
        h.update(b"\1")
    return h.hexdigest()


@dataclass
class Target:
    """Where the commands go: the local store, or a cluster whose files are in data_dir."""

    backend: str
    data_dir: Path
    global_args: tuple[str, ...] = ()

    def run(self, *args, **kwargs):
        return run_kcli(self.data_dir, *self.global_args, *args, **kwargs)


@pytest.fixture(scope="module", params=["local", "remote"])
def store(request, tmp_path_factory) -> Target:
    if request.param == "local":
        target = Target("local", tmp_path_factory.mktemp("bad-input") / "data")
    else:
        cluster = request.getfixturevalue("kafka_cluster").reset()
        target = Target("remote", cluster.data_dir, ("--bootstrap-server", cluster.bootstrap))
    steps = [
        ("topic", "create", "orders", "--partitions", "3"),
        ("topic", "create", "tiny", "--config", "max.message.bytes=200"),
        ("produce", "orders", "a", "b", "c", "d"),
        ("produce", "tiny", "small"),
        ("topic", "create", "a.b"),
    ]
    for args in steps:
        result = target.run(*args)
        assert result.returncode == 0, result.stderr
    return target


# (id, args, stdin, exit code, a fragment the error line must contain)
CASES = [
    ("name-dotdot-slash", ["topic", "create", "../x"], None, 1, "'/'"),
    ("name-empty", ["topic", "create", ""], None, 1, "empty"),
    ("name-250-chars", ["topic", "create", LONG_NAME], None, 1, "249"),
    ("name-space", ["topic", "create", "bad name"], None, 1, "a-z A-Z 0-9"),
    ("name-dot", ["topic", "create", "."], None, 1, "reserved"),
    ("create-exists", ["topic", "create", "orders"], None, 1, "already exists"),
    ("partitions-zero", ["topic", "create", "x", "--partitions", "0"], None, 1, "1 to"),
    ("partitions-not-int", ["topic", "create", "x", "--partitions", "two"], None, 2, "partitions"),
    (
        "config-not-int",
        ["topic", "create", "x", "--config", "retention.ms=soon"],
        None,
        1,
        "retention.ms",
    ),
    (
        "config-unknown-key",
        ["topic", "create", "x", "--config", "retention.hours=1"],
        None,
        1,
        "valid keys",
    ),
    (
        "config-no-equals",
        ["topic", "create", "x", "--config", "retention.ms"],
        None,
        2,
        "KEY=VALUE",
    ),
    (
        "config-below-min",
        ["topic", "create", "x", "--config", "segment.bytes=1"],
        None,
        1,
        "segment.bytes",
    ),
    ("describe-unknown", ["topic", "describe", "nope"], None, 1, "does not exist"),
    ("delete-unknown", ["topic", "delete", "nope"], None, 1, "does not exist"),
    ("alter-shrink", ["topic", "alter", "orders", "--partitions", "1"], None, 1, "only grow"),
    ("alter-nothing", ["topic", "alter", "orders"], None, 2, "nothing to change"),
    ("list-bad-output", ["topic", "list", "-o", "xml"], None, 2, "json"),
    ("produce-unknown-topic", ["produce", "nope", "v"], None, 1, "does not exist"),
    ("produce-partition-out", ["produce", "orders", "--partition", "3", "v"], None, 1, "0..2"),
    (
        "produce-partition-negative",
        ["produce", "orders", "--partition", "-1", "v"],
        None,
        1,
        "0..2",
    ),
    (
        "produce-json-malformed",
        ["produce", "orders", "--input", "json"],
        '{"value": \n',
        1,
        "line 1",
    ),
    (
        "produce-json-array",
        ["produce", "orders", "--input", "json"],
        "[1, 2]\n",
        1,
        "not an object",
    ),
    (
        "produce-json-no-value",
        ["produce", "orders", "--input", "json"],
        '{"key": "k"}\n',
        1,
        '"value"',
    ),
    (
        "produce-json-value-number",
        ["produce", "orders", "--input", "json"],
        '{"value": 5}\n',
        1,
        "string",
    ),
    (
        "produce-json-partition-out",
        ["produce", "orders", "--input", "json"],
        '{"value": "v", "partition": 7}\n',
        1,
        "partition 7",
    ),
    (
        "produce-json-bad-b64",
        ["produce", "orders", "--input", "json"],
        '{"value_b64": "%%%"}\n',
        1,
        "base64",
    ),
    (
        "produce-json-not-utf8",
        ["produce", "orders", "--input", "json"],
        b'{"value": "\xff"}\n',
        1,
        "JSON",
    ),
    (
        "produce-no-separator",
        ["produce", "orders", "--key-separator", ":"],
        "no separator here\n",
        1,
        "separator",
    ),
    (
        "produce-key-and-separator",
        ["produce", "orders", "--key", "k", "--key-separator", ":"],
        "",
        2,
        "either",
    ),
    ("produce-too-large", ["produce", "tiny", "x" * 500], None, 1, "max.message.bytes"),
    (
        "produce-header-no-equals",
        ["produce", "orders", "--header", "oops", "v"],
        None,
        2,
        "KEY=VALUE",
    ),
    ("consume-unknown-topic", ["consume", "nope"], None, 1, "does not exist"),
    (
        "consume-group-protocol-word",
        ["consume", "orders", "--group", "g", "--group-protocol", "eager"],
        None,
        2,
        "'classic', 'consumer'",
    ),
    (
        "consume-group-protocol-no-group",
        ["consume", "orders", "--group-protocol", "consumer"],
        None,
        2,
        "add --group G",
    ),
    (
        "config-min-insync-zero",
        ["topic", "create", "x", "--config", "min.insync.replicas=0"],
        None,
        1,
        "min.insync.replicas",
    ),
    ("consume-partition-out", ["consume", "orders", "--partition", "5"], None, 1, "0..2"),
    (
        "consume-offset-out",
        ["consume", "orders", "--partition", "0", "--from-offset", "99"],
        None,
        1,
        "valid offsets",
    ),
    ("consume-time-words", ["consume", "orders", "--from-time", "yesterday"], None, 1, "ISO-8601"),
    ("consume-time-no-sign", ["consume", "orders", "--from-time", "1h"], None, 1, "-1h"),
    (
        "consume-two-starts",
        ["consume", "orders", "--from-offset", "1", "--from-end"],
        None,
        2,
        "one start",
    ),
    ("consume-bad-format", ["consume", "orders", "--format", "%x"], None, 2, "%x"),
    ("consume-zero-max", ["consume", "orders", "--max-messages", "0"], None, 2, "1 or more"),
    (
        "consume-group-and-partition",
        ["consume", "orders", "--group", "g", "--partition", "0"],
        None,
        2,
        "--group",
    ),
    (
        "consume-bad-assignor",
        ["consume", "orders", "--group", "g", "--assignor", "best"],
        None,
        2,
        "range",
    ),
    ("dump-unknown-topic", ["log", "dump", "nope"], None, 1, "does not exist"),
    ("dump-partition-out", ["log", "dump", "orders", "--partition", "9"], None, 1, "0..2"),
    (
        "perf-zero-records",
        ["perf", "produce", "orders", "-n", "0", "-s", "10"],
        None,
        2,
        "1 or more",
    ),
    ("unknown-command", ["topics"], None, 2, "topics"),
    # Kafka's rule: names differing only in '.' and '_' collide (metric names use '_')
    ("topic-collides", ["topic", "create", "a_b"], None, 1, "collides with existing topic"),
    # Issue 12, item 5: every JSON field is checked before the line is queued.
    (
        "produce-json-timestamp-beyond-int64",
        ["produce", "orders", "--input", "json"],
        '{"value": "v", "timestamp": 99999999999999999999}\n',
        1,
        'line 1: "timestamp" must be milliseconds since the epoch',
    ),
    (
        "produce-json-timestamp-after-9999",
        ["produce", "orders", "--input", "json"],
        '{"value": "v", "timestamp": 253402300800000}\n',
        1,
        "0 to 253402300799999",
    ),
    (
        "produce-json-timestamp-negative",
        ["produce", "orders", "--input", "json"],
        '{"value": "v", "timestamp": -5}\n',
        1,
        '"timestamp"',
    ),
    (
        "produce-json-timestamp-text",
        ["produce", "orders", "--input", "json"],
        '{"value": "v", "timestamp": "soon"}\n',
        1,
        '"timestamp"',
    ),
    (
        "produce-json-partition-bool",
        ["produce", "orders", "--input", "json"],
        '{"value": "v", "partition": true}\n',
        1,
        '"partition" must be a whole number',
    ),
    (
        "produce-json-key-object",
        ["produce", "orders", "--input", "json"],
        '{"value": "v", "key": {"id": 1}}\n',
        1,
        '"key" must be a string or null',
    ),
    (
        "produce-json-headers-not-pairs",
        ["produce", "orders", "--input", "json"],
        '{"value": "v", "headers": [["a", "b", "c"]]}\n',
        1,
        "[key, value] pair",
    ),
    # Issue 12, item 9: the CLI's inputs that used to be "unexpected X".
    (
        "produce-json-nested-deeply",
        ["produce", "orders", "--input", "json"],
        '{"value": ' + "[" * 100_000 + "]" * 100_000 + "}\n",
        1,
        "line 1 is JSON nested too deeply",
    ),
    (
        "produce-json-header-key-not-utf8",
        ["produce", "orders", "--input", "json"],
        '{"value": "v", "headers": [["\\udcff", "x"]]}\n',
        1,
        "header key '\\udcff' is not UTF-8",
    ),
    (
        "produce-header-key-not-utf8",
        ["produce", "orders", "--header", os.fsdecode(b"\xff=v"), "v"],
        None,
        2,
        "header key '\\xff' is not UTF-8",
    ),
    ("consume-time-superscript", ["consume", "orders", "--from-time", "²"], None, 1, "ISO-8601"),
    (
        "consume-time-year-1",
        ["consume", "orders", "--from-time", "0001-01-01T00:00:00"],
        None,
        1,
        "before 1970-01-01",
    ),
    (
        "consume-time-beyond-int64",
        ["consume", "orders", "--from-time", "99999999999999999999"],
        None,
        1,
        "after 9999-12-31",
    ),
    # Issue 12, item 10: a line longer than max.message.bytes is refused while it is read.
    (
        "produce-long-line-no-newline",
        ["produce", "orders"],
        "x" * 3_000_000,
        1,
        "line 1 is longer than 1048588 bytes",
    ),
    (
        "produce-long-json-line",
        ["produce", "tiny", "--input", "json"],
        '{"value": "' + "x" * 2000 + '"}\n',
        1,
        "line 1 is longer than 1200 bytes",
    ),
    # Tombstones, compression and acks (issues 19, 14, 17).
    ("produce-tombstone-no-key", ["produce", "orders", "--tombstone"], None, 2, "--key"),
    (
        "produce-tombstone-and-value",
        ["produce", "orders", "--key", "k", "--tombstone", "v"],
        None,
        2,
        "no VALUE",
    ),
    ("produce-bad-compression", ["produce", "orders", "-z", "brotli", "v"], None, 2, "zstd"),
    ("produce-bad-acks", ["produce", "orders", "--acks", "2", "v"], None, 2, "all"),
    (
        "perf-bad-acks",
        ["perf", "produce", "orders", "-n", "1", "-s", "1", "--acks", "many"],
        None,
        2,
        "all",
    ),
]


@pytest.mark.parametrize(
    ("args", "stdin", "code", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_is_one_clear_error_and_changes_nothing(store, args, stdin, code, fragment):
    if store.backend == "remote" and args[0] == "log" and code == 1:
        fragment = "works only on the local store"  # a cluster's files are not here
    before = store_digest(store.data_dir)
    result = store.run(*args, input=stdin.encode() if isinstance(stdin, str) else stdin, text=False)
    stderr = result.stderr.decode("utf-8", "replace")
    lines = stderr.strip().splitlines()
    assert result.returncode == code, stderr
    assert len(lines) == 1 and lines[0].startswith("Error: "), stderr
    assert "Traceback" not in stderr
    assert fragment in lines[0], lines[0]
    assert result.stdout == b""
    assert store_digest(store.data_dir) == before


def test_the_corpus_is_big_enough():
    assert len(CASES) >= 30


def test_data_dir_that_is_a_file_is_a_clear_error(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    result = run_kcli(blocker / "data", "topic", "list")
    assert result.returncode == 1
    assert result.stderr.startswith("Error: ") and len(result.stderr.splitlines()) == 1
    assert "--data-dir" in result.stderr
    assert blocker.read_text() == "x"


def test_data_dir_without_write_permission_is_a_clear_error(tmp_path):
    data = tmp_path / "data"
    assert run_kcli(data, "topic", "create", "t").returncode == 0
    before = store_digest(data)
    os.chmod(data, 0o500)
    try:
        # As root, permissions are not enforced; a path under a read-only file system is the
        # portable way to be refused. /proc is read-only for everyone.
        target = data if os.geteuid() != 0 else Path("/proc/kcli-test-data")
        result = run_kcli(target, "topic", "create", "u")
    finally:
        os.chmod(data, 0o700)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: ") and len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert store_digest(data) == before


def test_debug_shows_the_traceback(store):
    result = store.run("--debug", "topic", "describe", "nope")
    assert result.returncode != 0
    assert "Traceback" in result.stderr


def _one_error_line(result, fragment: str) -> None:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert fragment in lines[0], lines[0]


@pytest.fixture
def damaged_store(tmp_path) -> Path:
    data = tmp_path / "data"
    for args in (("topic", "create", "good"), ("produce", "good", "x"), ("topic", "create", "bad")):
        assert run_kcli(data, *args).returncode == 0
    return data


@pytest.mark.parametrize(
    "contents",
    [b"{junk", b"\xff\xfe\x00binary", b'{"topic": "bad", "partitions": "three"}', b"[]"],
    ids=["not-json", "binary", "wrong-types", "wrong-shape"],
)
def test_a_damaged_topic_file_is_named_and_other_topics_stay_usable(damaged_store, contents):
    (damaged_store / "topics" / "bad.json").write_bytes(contents)
    before = store_digest(damaged_store)
    result = run_kcli(damaged_store, "topic", "describe", "bad")
    _one_error_line(result, "bad.json is damaged")
    listed = run_kcli(damaged_store, "topic", "list")
    assert listed.returncode == 0 and listed.stdout.split() == ["good"], listed.stderr
    assert "bad.json is damaged" in listed.stderr  # skipped, and said so
    consumed = run_kcli(damaged_store, "consume", "good", "--from-beginning")
    assert consumed.returncode == 0 and consumed.stdout.split() == ["x"], consumed.stderr
    assert store_digest(damaged_store) == before


@pytest.mark.parametrize(
    ("contents", "fragment"),
    [
        (b"\x00\xff\xfe\x01", "is not a text file"),
        (b"# kcli data directory\nversion=7\ncluster.id=abc\n", "newer kcli"),
        (b"cluster.id=abc\n", "version=(none)"),
    ],
    ids=["binary", "future-version", "no-version"],
)
def test_an_unreadable_or_future_meta_properties_is_refused(damaged_store, contents, fragment):
    (damaged_store / "meta.properties").write_bytes(contents)
    before = store_digest(damaged_store)
    for args in (("topic", "list"), ("produce", "good", "y"), ("topic", "create", "new")):
        _one_error_line(run_kcli(damaged_store, *args), fragment)
    assert store_digest(damaged_store) == before


def consumed_values(store: Target, topic: str) -> list[str]:
    result = store.run("consume", topic, "-o", "json")
    assert result.returncode == 0, result.stderr
    return sorted(record["value"] for record in json_lines(result.stdout))


@pytest.mark.parametrize(
    ("name", "bad_line", "fragment"),
    [
        ("timestamp", '{"value": "bad", "timestamp": 99999999999999999999}', '"timestamp"'),
        ("long-line", '{"value": "' + "x" * 7_000_000 + '"}', "is longer than"),
    ],
    ids=["timestamp", "long-line"],
)
def test_a_bad_line_after_good_ones_states_exactly_what_was_stored(store, name, bad_line, fragment):
    """Issue 12, item 5: four good lines, a bad one, a good one: lines 1-4 are stored and
    the error says so, the line after the bad one is not written."""
    topic = f"partial-{name}"
    assert store.run("topic", "create", topic, "--partitions", "3").returncode == 0
    good = [json.dumps({"value": f"ok{i}"}) for i in range(1, 5)]
    body = "\n".join([*good, bad_line, json.dumps({"value": "after"})]) + "\n"
    result = store.run("produce", topic, "--input", "json", input=body)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, result.stderr
    assert len(lines) == 1 and lines[0].startswith("Error: line 5"), result.stderr
    assert "Traceback" not in result.stderr and "unexpected" not in result.stderr
    assert fragment in lines[0]
    assert lines[0].endswith("; stored lines 1-4 (nothing after them)"), lines[0]
    assert consumed_values(store, topic) == ["ok1", "ok2", "ok3", "ok4"]
    described = store.run("topic", "describe", topic, "-o", "json")
    assert sum(p["log_end_offset"] for p in json.loads(described.stdout)["partitions"]) == 4


def test_a_long_line_without_newline_is_refused_before_it_is_read_to_the_end(store):
    """Issue 12, item 10: the refusal comes once max.message.bytes of the line are read; the
    lines before it are stored and named."""
    line = "x" * 30_000_000
    result = store.run("produce", "tiny", input=f"first\nsecond\n{line}")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: line 3 is longer than 200 bytes"), lines[0]
    assert lines[0].endswith("stored lines 1-2 (nothing after them)"), lines[0]
    assert consumed_values(store, "tiny") == ["first", "second", "small"]


@pytest.mark.parametrize(
    "contents",
    [b"[1, 2]", b'{"offsets": [{"topic": 3}]}', b'{"offsets": [{"topic": "good", "partition": "x"'],
    ids=["a-list", "missing-fields", "not-json"],
)
def test_a_wrong_shape_offsets_file_is_named(damaged_store, contents):
    assert run_kcli(damaged_store, "consume", "good", "--group", "g").returncode == 0
    (damaged_store / "groups" / "g" / "offsets.json").write_bytes(contents)
    before = store_digest(damaged_store)
    result = run_kcli(damaged_store, "group", "describe", "g")
    _one_error_line(result, "offsets.json")
    assert run_kcli(damaged_store, "consume", "good", "--from-beginning").returncode == 0
    assert store_digest(damaged_store) == before


def test_the_consumer_protocol_needs_a_broker(tmp_path):
    """KIP-848 groups are coordinated by a broker: on the local store, one line saying so."""
    assert run_kcli(tmp_path / "data", "topic", "create", "t").returncode == 0
    before = store_digest(tmp_path / "data")
    result = run_kcli(
        tmp_path / "data", "consume", "t", "--group", "g", "--group-protocol", "consumer"
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "served by a broker: add --bootstrap-server" in lines[0]
    assert store_digest(tmp_path / "data") == before
