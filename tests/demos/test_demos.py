"""Every demo runs to completion with --fast, in a pipe, and its summary states what it measured.

The assertions are on invariants that hold on any machine (a blocking sender is held back,
every group reads every record, a killed member's partitions move), not on timings.
"""

from __future__ import annotations

import re

import pytest

SUMMARY = "What this demo showed"


def _summary(out) -> str:
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert SUMMARY in out.stdout, out.stdout[-3000:]
    assert "Traceback" not in out.stderr
    return out.stdout.split(SUMMARY, 1)[1]


def _ints(pattern: str, text: str) -> list[int]:
    m = re.search(pattern, text)
    assert m, f"{pattern!r} not in:\n{text}"
    return [int(g) for g in m.groups()]


def test_socket_vs_log(kcli):
    text = _summary(kcli("demo", "socket-vs-log", "--fast"))
    (rate,) = _ints(
        r"blocking socket: the producer wanted 1000 msg/s but managed (\d+) msg/s", text
    )
    assert rate < 800  # held back by the 100 msg/s reader
    dropped, offered = _ints(r"non-blocking socket: (\d+) of (\d+) messages dropped", text)
    assert 0 < dropped < offered
    lost, got, sent = _ints(
        r"late reader: (\d+) messages sent .* lost; it got (\d+) of the (\d+)", text
    )
    assert lost > 0 and got == sent
    a, b, total = _ints(r"two readers on one connection: A got (\d+), B got (\d+) of (\d+)", text)
    assert a + b == total
    written, second, late, replay = _ints(
        r"log: the producer wrote (\d+) records.* read (\d+) and (\d+) of \d+, and a replay "
        r"from offset 0 read (\d+)",
        text.replace("\n", " "),
    )
    assert written > 0 and second == late == replay == written


def test_slow_consumer(kcli):
    text = _summary(kcli("demo", "slow-consumer", "--fast"))
    (peak,) = _ints(r"the lag grew to (\d+) records", text)
    assert peak > 0
    produced, consumed, committed, end = _ints(
        r"nothing lost: (\d+) records produced, (\d+) consumed, committed offsets at (\d+) "
        r"\(log-end (\d+)\)",
        text,
    )
    assert produced == consumed == committed == end


def test_retention(kcli):
    text = _summary(kcli("demo", "retention", "--fast"))
    (day,) = _ints(r"the first segment was deleted on day (\d+)", text)
    assert day == 8  # records of day 1 are more than 7 days old on day 8
    (start,) = _ints(r"log_start_offset is now (\d+)", text)
    assert start > 0
    assert "reading offset 0 now fails" in text


def test_pubsub(kcli):
    text = _summary(kcli("demo", "pubsub", "--fast"))
    assert "(every group got every record)" in text
    (total,) = _ints(r"read the same (\d+) records", text)
    for app in ("email", "search", "analytics", "archive"):
        assert f"{app} {total}" in text
    (started,) = _ints(r"'archive' started when (\d+) records", text)
    assert 0 < started < total


def test_group_scaling(kcli):
    text = _summary(kcli("demo", "group-scaling", "--fast"))
    assert re.search(r"1 consumer \(generation \d+\): C1 p0\+p1\+p2\+p3", text)
    assert re.search(r"5 consumers \(generation \d+\): .*idle", text)
    assert "was killed: its partitions moved after" in text
    assert "left cleanly: its partitions moved after" in text
    assert "no partition had two owners in any generation" in text


def test_queue_vs_log(kcli):
    text = _summary(kcli("demo", "queue-vs-log", "--fast"))
    first, second, count = _ints(r"billing took (\d+) and analytics took (\d+) of (\d+)", text)
    assert first + second == count
    assert "late 'audit' app got 0 messages" in text
    a, b, late, total = _ints(r"read (\d+), (\d+) and (\d+) of (\d+)", text)
    assert a == b == late == total == count


def test_pipeline(kcli, data_dir):
    text = _summary(kcli("demo", "pipeline", "--fast"))
    (purchases,) = _ints(r"produced (\d+) purchases", text)
    invoices, files = _ints(r"sink: (\d+) invoices in .* and (\d+) invoice files", text)
    assert purchases > 0 and invoices >= purchases and files == purchases
    assert len(list((data_dir / "demo-pipeline" / "invoices").rglob("INV-*.txt"))) == purchases


def test_iot(kcli):
    text = _summary(kcli("demo", "iot", "--fast", "--devices", "300"))
    assert "300 devices were seen, each by exactly one processor" in text
    (sent,) = _ints(r"300 devices sent (\d+) readings", text)
    (processed,) = _ints(r"shared the 6 partitions and processed (\d+)", text)
    assert processed == sent > 0


def test_cluster(kcli):
    text = _summary(kcli("demo", "cluster", "--fast"))
    assert text.lstrip().startswith("- SIMULATED")
    assert "leaders per broker b1: 2, b2: 2, b3: 2, b4: 2" in text
    assert "nothing was lost" in text


def test_cluster_refuses_more_replicas_than_brokers(kcli):
    out = kcli("demo", "cluster", "--fast", "--brokers", "2")
    assert out.returncode == 1
    assert out.stderr.startswith("Error: a replication factor of 3 needs at least 3 brokers")


@pytest.mark.parametrize("name", ["spark"])
def test_spark_demo_is_wired(kcli, name):
    out = kcli("demo", name, "--help")
    assert out.returncode == 0 and "Spark" in out.stdout
