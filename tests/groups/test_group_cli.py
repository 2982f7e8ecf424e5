"""`kcli group ...` and `kcli consume --group` as a user runs them: real processes, real store."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from storage import ProducerRecord, Store
from storage.groups import GroupStore
from tests.waiting import WAIT_S, wait_for

from .helpers import KCLI, run_kcli, stable_with


@pytest.fixture
def data_dir(tmp_path):
    d = tmp_path / "data"
    store = Store(d)
    store.create_topic("orders", 3)
    for p, n in enumerate((5, 3, 0)):
        if n:
            store.log("orders", p).append_records(
                [ProducerRecord(f"{p}-{i}".encode()) for i in range(n)]
            )
    store.close()
    return d


def lines(result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_describe_json_matches_committed_offsets_and_log_end_offsets(data_dir):
    gs = GroupStore(Store(data_dir))
    gs.commit_offsets("billing", {("orders", 0): 2, ("orders", 1): 3})
    rows = lines(run_kcli(data_dir, "group", "describe", "billing", "-o", "json"))
    assert rows == [
        {
            "group": "billing",
            "topic": "orders",
            "partition": 0,
            "committed_offset": 2,
            "log_end_offset": 5,
            "lag": 3,
            "member_id": None,
            "client_id": None,
            "host": None,
        },
        {
            "group": "billing",
            "topic": "orders",
            "partition": 1,
            "committed_offset": 3,
            "log_end_offset": 3,
            "lag": 0,
            "member_id": None,
            "client_id": None,
            "host": None,
        },
        {
            "group": "billing",
            "topic": "orders",
            "partition": 2,
            "committed_offset": None,
            "log_end_offset": 0,
            "lag": None,
            "member_id": None,
            "client_id": None,
            "host": None,
        },
    ]
    assert lines(run_kcli(data_dir, "group", "list", "-o", "json")) == [
        {"group": "billing", "state": "Empty", "members": 0, "assignor": "", "generation": 0}
    ]
    plain = run_kcli(data_dir, "group", "describe", "billing").stdout.splitlines()
    assert plain[0].split("\t") == ["billing", "orders", "0", "2", "5", "3", "-", "-", "-"]


def test_members_state_and_idle_member_views(data_dir):
    gs = GroupStore(Store(data_dir))
    # This test process plays four members of a 3-partition group: one idles.
    views = [
        gs.join_group("shop", topics=["orders"], client_id=f"c{i}", session_timeout_ms=600_000)
        for i in range(4)
    ]
    for v in views[:3]:
        gs.join_group(
            "shop",
            topics=["orders"],
            client_id="x",
            member_id=v.member_id,
            session_timeout_ms=600_000,
        )
    members = lines(run_kcli(data_dir, "group", "describe", "shop", "--members", "-o", "json"))
    assert [len(m["assignment"]) for m in members] == [1, 1, 1, 0]
    assert set(members[0]) == {
        "group",
        "member_id",
        "group_instance_id",
        "client_id",
        "host",
        "generation",
        "assignment",
    }
    assert members[0]["group_instance_id"] is None
    assert members[0]["assignment"] == [{"topic": "orders", "partition": 0}]
    state = lines(run_kcli(data_dir, "group", "describe", "shop", "--state", "-o", "json"))
    assert state == [
        {
            "group": "shop",
            "coordinator": "kcli",
            "assignor": "range",
            "protocol": "eager",
            "state": "Stable",
            "generation": 2,
            "members": 4,
            "group_type": "classic",
        }
    ]
    table = run_kcli(
        data_dir, "group", "describe", "shop", "-o", "table", env_extra={"COLUMNS": "200"}
    ).stdout
    assert "(idle)" in table and "total lag" in table and "CURRENT-OFFSET" in table
    assert (
        "1 member(s) idle" in run_kcli(data_dir, "group", "describe", "shop", "-o", "table").stderr
    )

    # Neither reset nor delete while members are live; nothing changes.
    before = gs.fetch_offsets("shop")
    refused = run_kcli(
        data_dir,
        "group",
        "reset",
        "shop",
        "--topic",
        "orders",
        "--to-latest",
        "--execute",
        check=False,
    )
    assert refused.returncode == 1
    assert refused.stderr.startswith("Error: group 'shop' has 4 live member(s)")
    assert "Traceback" not in refused.stderr
    refused = run_kcli(data_dir, "group", "delete", "shop", check=False)
    assert refused.returncode == 1 and "live member" in refused.stderr
    assert gs.fetch_offsets("shop") == before
    for v in views:
        gs.leave_group("shop", v.member_id)


def test_reset_dry_run_changes_nothing_and_execute_does(data_dir):
    gs = GroupStore(Store(data_dir))
    gs.commit_offsets("billing", {("orders", 0): 1})
    offsets = data_dir / "groups" / "billing" / "offsets.json"
    before = offsets.read_bytes()
    dry = run_kcli(
        data_dir, "group", "reset", "billing", "--topic", "orders", "--to-latest", "-o", "json"
    )
    assert lines(dry) == [
        {
            "group": "billing",
            "topic": "orders",
            "partition": 0,
            "committed_offset": 1,
            "new_offset": 5,
        },
        {
            "group": "billing",
            "topic": "orders",
            "partition": 1,
            "committed_offset": None,
            "new_offset": 3,
        },
        {
            "group": "billing",
            "topic": "orders",
            "partition": 2,
            "committed_offset": None,
            "new_offset": 0,
        },
    ]
    assert "Dry run" in dry.stderr
    assert offsets.read_bytes() == before

    reset = ("group", "reset", "billing", "--topic", "orders", "--execute")
    run_kcli(data_dir, *reset, "--partition", "0", "--shift-by", "-1")
    run_kcli(data_dir, *reset, "--partition", "1", "--to-offset", "99")  # clamped to the log end
    assert {tp: o.offset for tp, o in gs.fetch_offsets("billing").items()} == {
        ("orders", 0): 0,
        ("orders", 1): 3,
    }


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["reset", "billing", "--topic", "orders"], 2, "exactly one of"),
        (
            ["reset", "billing", "--topic", "nope", "--to-earliest"],
            1,
            "topic 'nope' does not exist",
        ),
        (["describe", "nope"], 1, "group 'nope' does not exist"),
        (["describe", "g" * 250], 1, "maximum is 249"),
        (["simulate", "--partitions", "4", "--consumers", "2", "--leaving", "2"], 2, "--leaving"),
    ],
)
def test_bad_input_is_one_error_line(data_dir, args, code, message):
    result = run_kcli(data_dir, "group", *args, check=False)
    assert result.returncode == code, result.stderr
    assert result.stderr.startswith("Error:") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_delete_an_inactive_group(data_dir):
    GroupStore(Store(data_dir)).commit_offsets("old", {("orders", 0): 1})
    result = run_kcli(data_dir, "group", "delete", "old")
    assert "Deleted group 'old'" in result.stderr
    assert run_kcli(data_dir, "group", "list").stdout == ""


def test_simulate_needs_no_store(tmp_path):
    missing = tmp_path / "never-created"
    out = lines(
        run_kcli(
            missing, "group", "simulate", "--partitions", "4", "--consumers", "3", "-o", "json"
        )
    )
    assert [r["assignor"] for r in out] == ["range", "roundrobin", "sticky"]
    assert [len(m["partitions"]) for m in out[0]["assignment"]] == [2, 1, 1]
    assert out[1]["assignment"][0]["partitions"] == [
        {"topic": "t0", "partition": 0},
        {"topic": "t0", "partition": 3},
    ]
    assert (out[0]["moved_on_join"], out[2]["moved_on_leave"]) == (3, 1)
    # The leave follows the join: the member that just joined is still in the group.
    assert "consumer-3" in [m["member_id"] for m in out[2]["after_leave"]]
    table = run_kcli(missing, "group", "simulate", "-p", "4", "-c", "3", "-o", "table").stdout
    assert "ROUNDROBIN" in table and "consumer-3 joins" in table
    assert "then consumer-0 leaves" in table and "(min " not in table
    assert not missing.exists()


def test_watch_prints_a_snapshot_per_refresh(data_dir):
    GroupStore(Store(data_dir)).commit_offsets("billing", {("orders", 0): 5})
    out = lines(
        run_kcli(
            data_dir, "group", "watch", "billing", "--count", "2", "--interval", "0.1", "-o", "json"
        )
    )
    assert len(out) == 6 and out[:3] == out[3:]


def _consume(data_dir, *args, **kwargs):
    env = {**os.environ, "KCLI_DATA_DIR": str(data_dir), "NO_COLOR": "1"}
    return subprocess.Popen(
        [*KCLI, "consume", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def test_kcli_consume_group_members_share_report_and_leave(tmp_path):
    data_dir = tmp_path / "data"
    store = Store(data_dir)
    store.create_topic("t", 4)
    for p in range(4):
        store.log("t", p).append_records([ProducerRecord(f"{p}-{i}".encode()) for i in range(3)])
    store.close()
    opts = ["t", "--group", "g", "--follow", "--session-timeout-ms", "60000", "-o", "json"]
    first = _consume(data_dir, *opts)
    wait_for(lambda: stable_with(data_dir, "g", 1), "the first member")
    second = _consume(data_dir, *opts, "--assignor", "range")
    desc = wait_for(lambda: stable_with(data_dir, "g", 2), "two members")
    assert sorted(len(m.assignment) for m in desc.members) == [2, 2]
    # Ctrl-C (SIGINT) and SIGTERM both leave cleanly: the other member takes over at once
    # (the 60 s session timeout could not have expired yet).
    second.send_signal(signal.SIGINT)
    out2, err2 = second.communicate(timeout=WAIT_S)
    assert second.returncode == 0, err2
    desc = wait_for(lambda: stable_with(data_dir, "g", 1), "the first member alone")
    assert len(desc.members[0].assignment) == 4
    first.send_signal(signal.SIGTERM)
    out1, err1 = first.communicate(timeout=WAIT_S)
    assert first.returncode == 0, err1
    assert "assigned: t-0, t-1, t-2, t-3" in err1
    assert any(
        line.startswith("assigned: t-") and line.count("t-") == 2 for line in err2.splitlines()
    ), err2
    # Every record printed exactly once across the two (nobody was killed), and committed.
    printed = [json.loads(line) for line in (out1 + out2).splitlines()]
    assert sorted((r["partition"], r["offset"]) for r in printed) == [
        (p, o) for p in range(4) for o in range(3)
    ]
    committed = GroupStore(Store(data_dir)).fetch_offsets("g")
    assert {tp: o.offset for tp, o in committed.items()} == {("t", p): 3 for p in range(4)}
    assert GroupStore(Store(data_dir)).describe_group("g").state == "Empty"
