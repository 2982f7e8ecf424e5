"""Static membership over the wire (KIP-345): confluent-kafka consumers with
``group.instance.id`` against ``kcli serve``.  A static member restarted within the session
timeout takes its old place with no rebalance; a second process with an id in use fences the
first (FENCED_INSTANCE_ID)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from storage import Store
from tests.waiting import wait_for

from .helpers import FAST_GROUPS, Member, split_evenly

PARTITIONS = 4
TIMEOUT_S = 90


def _generation(data_dir, group: str) -> int:
    result = subprocess.run(
        [sys.executable, "-m", "kcli", "--data-dir", str(data_dir), "group", "describe", group]
        + ["--state", "--output", "json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(result.stdout)["generation"]


@pytest.mark.slow
def test_a_restarted_static_member_gets_its_partitions_back_with_no_rebalance(serve_factory):
    server = serve_factory(*FAST_GROUPS)
    Store(server.data_dir).create_topic("orders", PARTITIONS)
    args = ("confluent-kafka", server.bootstrap, "orders", "billing")
    a = Member(*args, "member-a", instance_id="a")
    b = Member(*args, "member-b", instance_id="b")
    members = [a, b]
    try:
        wait_for(lambda: split_evenly(a, b), "2 + 2", timeout=TIMEOUT_S)
        # Let the group settle: no further rebalance pending.
        wait_for(lambda: _generation(server.data_dir, "billing") > 0, "stable", timeout=TIMEOUT_S)
        generation = _generation(server.data_dir, "billing")
        mine, theirs, b_changes = a.assignment, b.assignment, len(b.assignments)
        a.kill()  # kill -9: a static member sends no LeaveGroup; its place waits for it
        again = Member(*args, "member-a", instance_id="a")
        members.append(again)
        wait_for(lambda: again.assignment == mine, "a's partitions back", timeout=TIMEOUT_S)
        assert _generation(server.data_dir, "billing") == generation
        assert b.assignment == theirs and len(b.assignments) == b_changes  # b noticed nothing
        assert "no rebalance" in server.log()
        # A second process with b's instance id takes b's place; the first b is fenced.
        twin = Member(*args, "member-b2", instance_id="b")
        members.append(twin)
        wait_for(lambda: twin.assignment == theirs, "the twin has b's", timeout=TIMEOUT_S)
        wait_for(lambda: b.fatal is not None, "the first b fenced", timeout=TIMEOUT_S)
        assert "fenced by other consumer with same group.instance.id" in b.fatal
        assert again.assignment == mine
    finally:
        for m in members:
            m.stop()
