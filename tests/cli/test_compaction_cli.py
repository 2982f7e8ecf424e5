"""`kcli topic compact`, the compaction part of `topic describe`, gaps in `log dump` and
`consume`, through real processes."""

from __future__ import annotations

import pytest

from tests.conftest import json_lines, ok

LOCAL = pytest.mark.local_only("the log cleaner works on the local store's files")
CONFIG = (
    "--config",
    "cleanup.policy=compact",
    "--config",
    "segment.bytes=100",
    "--config",
    "min.cleanable.dirty.ratio=0.99",
)


def _profiles(kcli):
    ok(kcli("topic", "create", "profiles", *CONFIG))
    updates = [("alice", "Paris"), ("bob", "Lima"), ("alice", "Oslo"), ("bob", "Quito")]
    updates += [("alice", "Kyoto"), ("carol", "Cairo")]
    for key, value in updates:
        ok(kcli("produce", "profiles", "--key", key, value))
    return updates


@LOCAL
def test_compact_keeps_the_latest_of_every_key(kcli):
    _profiles(kcli)
    (desc,) = json_lines(ok(kcli("topic", "describe", "profiles", "-o", "json")).stdout)
    before = desc["partitions"][0]["compaction"]
    assert before["dirty_ratio"] > 0.5 and before["first_dirty_offset"] == 1
    (result,) = json_lines(ok(kcli("topic", "compact", "profiles", "-o", "json")).stdout)
    assert result["records_removed"] == 3 and result["cleaned_up_to"] == 5
    assert result["keys"] == 2 and result["segments_rewritten"] == 3
    (desc,) = json_lines(ok(kcli("topic", "describe", "profiles", "-o", "json")).stdout)
    after = desc["partitions"][0]["compaction"]
    assert after["dirty_ratio"] == 0 and after["first_dirty_offset"] == 5
    records = json_lines(ok(kcli("consume", "profiles", "-o", "json")).stdout)
    assert [(r["offset"], r["key"], r["value"]) for r in records] == [
        (3, "bob", "Quito"),
        (4, "alice", "Kyoto"),
        (5, "carol", "Cairo"),
    ]


@LOCAL
def test_from_offset_into_a_gap_starts_at_the_next_record(kcli):
    _profiles(kcli)
    ok(kcli("topic", "compact", "profiles"))
    (first,) = json_lines(
        ok(kcli("consume", "profiles", "--from-offset", "1", "-n", "1", "-o", "json")).stdout
    )
    assert first["offset"] == 3


@LOCAL
def test_log_dump_marks_what_the_cleaner_removed(kcli):
    _profiles(kcli)
    ok(kcli("topic", "compact", "profiles"))
    lines = json_lines(ok(kcli("log", "dump", "profiles", "-o", "json")).stdout)
    gaps = [(x["first_offset"], x["last_offset"]) for x in lines if x["type"] == "gap"]
    assert gaps == [(0, 2)]
    plain = ok(kcli("log", "dump", "profiles", "-o", "plain")).stdout
    assert "Gap: offsets 0..2 removed by the log cleaner" in plain


@LOCAL
def test_a_tombstone_from_json_stays_null(kcli):
    ok(kcli("topic", "create", "t", "--config", "cleanup.policy=compact"))
    ok(kcli("produce", "t", "-i", "json", input='{"key": "bob", "value": null}\n'))
    (record,) = json_lines(ok(kcli("consume", "t", "-o", "json")).stdout)
    assert record["key"] == "bob" and record["value"] is None


def test_keyless_produce_to_a_compacted_topic_is_refused(kcli):
    ok(kcli("topic", "create", "t", "--config", "cleanup.policy=compact"))
    out = kcli("produce", "t", "no key")
    assert out.returncode != 0
    # Kafka's INVALID_RECORD; through a cluster, librdkafka names the error code only.
    expected = (
        "Compacted topic cannot accept message without key"
        if kcli.backend == "local"
        else "Broker failed to validate record"
    )
    assert expected in out.stderr
    assert "Traceback" not in out.stderr
    assert json_lines(ok(kcli("consume", "t", "-o", "json")).stdout) == []


@LOCAL
def test_compact_refuses_a_topic_that_is_not_compacted(kcli):
    ok(kcli("topic", "create", "plain"))
    out = kcli("topic", "compact", "plain")
    assert out.returncode == 1
    (line,) = out.stderr.splitlines()
    assert "cleanup.policy=delete" in line and "cleanup.policy=compact" in line
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    "config,message",
    [
        ("cleanup.policy=compacted", "it must be delete or compact or compact,delete"),
        ("min.cleanable.dirty.ratio=1.5", "it must be a number from 0 to 1"),
        ("min.cleanable.dirty.ratio=nan", "it must be a number from 0 to 1"),
        ("delete.retention.ms=-1", "it must be an integer of milliseconds >= 0"),
        ("max.compaction.lag.ms=0", "it must be an integer of milliseconds >= 1"),
    ],
)
@LOCAL
def test_bad_compaction_configs_say_what_is_valid(kcli, data_dir, config, message):
    out = kcli("topic", "create", "t", "--config", config)
    assert out.returncode != 0 and message in out.stderr
    assert "Traceback" not in out.stderr
    assert not (data_dir / "topics" / "t.json").exists()


@LOCAL
def test_compact_delete_policy_on_create_and_alter(kcli):
    ok(kcli("topic", "create", "t", "--config", "cleanup.policy=delete,compact"))
    (desc,) = json_lines(ok(kcli("topic", "describe", "t", "-o", "json")).stdout)
    assert desc["config"]["cleanup.policy"] == "compact,delete"
    assert desc["config"]["min.cleanable.dirty.ratio"] == 0.5
    assert desc["config"]["delete.retention.ms"] == 86400000
    assert desc["config"]["min.compaction.lag.ms"] == 0
    assert desc["config"]["max.compaction.lag.ms"] == 2**63 - 1
    ok(kcli("topic", "alter", "t", "--config", "cleanup.policy=compact"))
    (desc,) = json_lines(ok(kcli("topic", "describe", "t", "-o", "json")).stdout)
    assert desc["config"]["cleanup.policy"] == "compact"


@LOCAL
def test_a_group_reading_a_compacted_topic_to_the_end_has_no_lag(kcli):
    _profiles(kcli)
    ok(kcli("topic", "compact", "profiles"))
    records = json_lines(ok(kcli("consume", "profiles", "--group", "g", "-o", "json")).stdout)
    assert [r["offset"] for r in records] == [3, 4, 5]
    (row,) = json_lines(ok(kcli("group", "describe", "g", "-o", "json")).stdout)
    assert (row["committed_offset"], row["log_end_offset"], row["lag"]) == (6, 6, 0)
