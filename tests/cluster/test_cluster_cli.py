"""``kcli cluster`` through the command line, and what real clients see of it."""

from __future__ import annotations

import json
import shutil
import subprocess
import time

import pytest

pytestmark = pytest.mark.slow

STATUS_BROKER_FIELDS = {"id", "host", "port", "state", "pid", "controller"}
STATUS_PARTITION_FIELDS = {
    "topic",
    "partition",
    "leader",
    "leader_epoch",
    "replicas",
    "isr",
    "high_watermark",
    "log_end_offsets",
}


def test_start_status_and_what_clients_see(make_cluster):
    c = make_cluster(3)
    start_out = c.start().stdout  # starting a running cluster again changes nothing
    assert f"KCLI_BOOTSTRAP_SERVER={c.bootstrap}" in start_out
    c.create_topic("orders", 3, 3)
    status = c.status()
    assert [b["id"] for b in status["brokers"]] == [0, 1, 2, 3]
    for b in status["brokers"]:
        assert STATUS_BROKER_FIELDS <= set(b)
        assert b["state"] == "running" and b["pid"] > 0
    assert [b["controller"] for b in status["brokers"]] == [True, False, False, False]
    orders = [p for p in status["partitions"] if p["topic"] == "orders"]
    assert [set(p) >= STATUS_PARTITION_FIELDS for p in orders] == [True] * 3
    # Kafka's rack-unaware placement: leaders spread over the brokers.
    assert [p["replicas"] for p in orders] == [[1, 2, 3], [2, 3, 1], [3, 1, 2]]
    assert [p["leader"] for p in orders] == [1, 2, 3]
    assert all(sorted(p["isr"]) == [1, 2, 3] for p in orders)

    # The profile the start wrote, and topic describe in kafka-topics' words.
    described = c.kcli("--profile", "cluster", "topic", "describe", "orders", data_dir=False)
    assert "Partition: 1\tLeader: 2\tReplicas: 2,3,1\tIsr: 2,3,1" in described.stdout

    # confluent-kafka
    from confluent_kafka.admin import AdminClient

    md = AdminClient({"bootstrap.servers": c.bootstrap}).list_topics(timeout=10)
    assert sorted(md.brokers) == [1, 2, 3]
    # One cluster, one cluster id, whichever broker answers.
    ids = {
        AdminClient({"bootstrap.servers": c.address(b)}).list_topics(timeout=10).cluster_id
        for b in (1, 2, 3)
    }
    assert ids == {md.cluster_id} and len(md.cluster_id) == 22
    assert {b.port for b in md.brokers.values()} == {c.port, c.port + 1, c.port + 2}
    for p in orders:
        got = md.topics["orders"].partitions[p["partition"]]
        assert (got.leader, got.replicas, sorted(got.isrs)) == (
            p["leader"],
            p["replicas"],
            sorted(p["isr"]),
        )

    # kafka-python
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=c.bootstrap, request_timeout_ms=10_000)
    try:
        described = admin.describe_topics(["orders"])[0]
        assert sorted(b["broker_id"] for b in admin.describe_cluster()["brokers"]) == [1, 2, 3]
    finally:
        admin.close()
    for part in described["partitions"]:
        want = orders[part["partition_index"]]
        assert part["leader_id"] == want["leader"]
        assert part["replica_nodes"] == want["replicas"]
        assert sorted(part["isr_nodes"]) == sorted(want["isr"])

    # A config change reaches every broker's copy of the topic, through the controller.
    c.kcli(
        "--bootstrap-server",
        c.bootstrap,
        "topic",
        "alter",
        "orders",
        "--config",
        "retention.ms=60000",
        data_dir=False,
    )
    from storage import Store

    deadline = time.monotonic() + 10
    while True:
        overrides = [
            Store(c.data_dir / "cluster" / f"broker-{b}", create=False).topic("orders").overrides
            for b in (1, 2, 3)
        ]
        if overrides == [{"retention.ms": 60000}] * 3 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert overrides == [{"retention.ms": 60000}] * 3

    # kcat -L
    if shutil.which("kcat"):
        out = subprocess.run(
            ["kcat", "-b", c.address(2), "-L", "-t", "orders"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        assert " 3 brokers:" in out
        assert "partition 2, leader 3, replicas: 3,1,2, isrs: 3,1,2" in out


def test_bad_input_is_one_clear_line(make_cluster, tmp_path):
    c = make_cluster(1, start=False)
    none = c.kcli("cluster", "status", check=False)
    assert none.returncode == 1 and "no cluster" in none.stderr and "Traceback" not in none.stderr
    too_many = c.kcli("cluster", "start", "--brokers", "10", check=False)
    assert too_many.returncode != 0 and "1 to 9" in too_many.stderr
    bad_config = c.kcli("cluster", "start", "--config", "no.such.config=1", check=False)
    assert (
        bad_config.returncode == 1 and "unknown broker config 'no.such.config'" in bad_config.stderr
    )
    assert not (c.data_dir / "cluster").exists()  # nothing was started
    c.start()
    for args, words in (
        (("cluster", "kill", "7"), "no broker 7"),
        (("cluster", "resume", "1"), "not paused"),
        (("cluster", "restart", "1"), "already running"),
        (("cluster", "delete"), "--yes"),
    ):
        proc = c.kcli(*args, check=False)
        assert proc.returncode != 0, args
        assert words in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    local = c.kcli("topic", "create", "t", "--replication-factor", "3", check=False)
    assert local.returncode == 1 and "local store" in local.stderr


def test_pause_stop_restart_and_controlled_shutdown(make_cluster):
    c = make_cluster(3, "min.insync.replicas=2")
    c.create_topic("t", 3, 3)
    c.kcli("cluster", "pause", "2")
    assert c.status()["brokers"][2]["state"] == "paused"
    c.kcli("cluster", "resume", "2")
    assert c.status()["brokers"][2]["state"] == "running"
    # A controlled shutdown moves broker 1's leaderships away before it stops.
    c.kcli("cluster", "stop", "1")
    status = c.status()
    assert status["brokers"][1]["state"] == "stopped"
    t = [p for p in status["partitions"] if p["topic"] == "t"]
    assert all(p["leader"] in (2, 3) and 1 not in p["isr"] for p in t), t
    assert t[0]["leader_epoch"] == 1
    c.kcli("cluster", "restart", "1")
    c.wait_partition("t", 0, lambda p: 1 in p["isr"])
    # Preferred leader election hands partition 0 back to broker 1, its first replica.
    out = c.kcli("cluster", "elect-leaders", "--preferred", "t", "-o", "json").stdout
    results = {r["partition"]: r for r in map(json.loads, out.splitlines())}
    assert results[0]["result"] == "NONE" and results[0]["leader"] == 1
    assert c.partition("t", 0)["leader"] == 1
    c.kcli("cluster", "stop")
    assert {b["state"] for b in c.status()["brokers"]} == {"stopped"}
    c.start()  # the stopped cluster comes back with its data
    c.wait_partition("t", 0, lambda p: p["leader"] > 0 and len(p["isr"]) == 3)


def test_without_its_controller_the_cluster_serves_but_cannot_change(make_cluster):
    from tests.cluster.clients import produce_one, producer

    c = make_cluster(3)
    c.create_topic("t", 1, 3)
    c.kcli("cluster", "kill", "controller")
    status = c.status_command()  # read from the metadata log while the controller is down
    assert status["brokers"][0]["state"] == "killed"
    assert c.partition("t", 0)["isr"] == [1, 2, 3]
    # Leaders keep serving: acks=all writes to an intact ISR go on.
    assert produce_one(producer(c.bootstrap), "t", b"no controller")[0] is None
    # Nothing that needs a decision works: a new topic cannot be created.
    created = c.kcli(
        "--bootstrap-server", c.bootstrap, "topic", "create", "new", check=False, data_dir=False
    )
    assert created.returncode == 1 and "controller" in created.stderr
    c.kcli("cluster", "restart", "controller")
    c.create_topic("new", 1, 3)
    assert c.wait_partition("new", 0, lambda q: q["leader"] > 0)


def test_status_watch_redraws_on_a_80_column_terminal_and_leaves_on_ctrl_c(make_cluster):
    from tests.learn.screen import Terminal

    c = make_cluster(3)
    c.create_topic("orders", 3, 3)
    term = Terminal(f"kcli --data-dir {c.data_dir} cluster status --watch", c.data_dir, 80, 40)
    try:
        screen = term.wait_for("orders", timeout=60)
        assert "running" in screen and "Traceback" not in screen
        assert all(len(line) <= 80 for line in term.lines())
        c.kcli("cluster", "kill", "2")
        screen = term.wait_for("killed", timeout=60)  # redrawn in place, not printed again
        assert screen.count("orders") <= 3 + 1, screen
        term.interrupt()
        assert term.wait(30) in (0, 130)
        assert "Traceback" not in term.text()
    finally:
        term.close()


def test_describe_right_after_a_leader_dies_shows_what_it_knows(make_cluster):
    """Until the controller fences a killed broker it is still the leader in the metadata;
    describe does not wait for its offsets (it used to take a minute): it shows "-" and
    says why, and the other partitions' offsets as they are."""
    c = make_cluster(3, "broker.session.timeout.ms=9000")
    c.create_topic("t", 3, 3)
    c.kill(2)
    out = c.kcli(
        "--bootstrap-server", c.bootstrap, "topic", "describe", "t", data_dir=False, timeout=25
    )
    rows = {
        line.split("\tPartition: ")[1].split("\t")[0]: line
        for line in out.stdout.splitlines()
        if "\tPartition: " in line
    }
    assert "Leader: 2" in rows["1"] and "LogStartOffset: -\tLogEndOffset: -" in rows["1"]
    assert "LogStartOffset: 0\tLogEndOffset: 0" in rows["0"]
    assert "offsets of partition 1 unknown: leader 2 did not answer" in out.stderr
