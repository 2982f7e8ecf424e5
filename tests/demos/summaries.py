"""What each demo's summary must say, checked wherever a demo runs in the suite (in a pipe by
tests/demos, on a pseudo-terminal inside the lessons).

Each check asserts invariants that hold on any machine (a blocking sender is held back, every
group reads every record, a killed member's partitions move), never timings.
"""

from __future__ import annotations

import re

from kcli.learn.runner import normalize

TITLE = "What this demo showed"


def summary_text(output: str) -> str:
    """The summary as one line of text, from terminal output (a panel) or pipe output."""
    lines = normalize(output)
    starts = [i for i, line in enumerate(lines) if TITLE in line]
    assert starts, "the demo printed no summary:\n" + "\n".join(lines[-30:])
    body = []
    for line in lines[starts[-1] + 1 :]:
        if line.startswith("╰"):
            break
        body.append(line.strip("│ "))
    return " ".join(body)


def _ints(pattern: str, text: str) -> list[int]:
    m = re.search(pattern, text)
    assert m, f"{pattern!r} not in: {text}"
    return [int(g) for g in m.groups()]


def socket_vs_log(text: str) -> None:
    (rate,) = _ints(r"the producer wanted 1000 msg/s but managed (\d+) msg/s", text)
    assert rate < 800  # held back by the 100 msg/s reader
    dropped, offered = _ints(r"non-blocking socket: (\d+) of (\d+) messages dropped", text)
    assert 0 < dropped < offered
    lost, got, sent = _ints(
        r"late reader: (\d+) messages sent .*? lost; it got (\d+) of the (\d+)", text
    )
    assert lost > 0 and got == sent
    a, b, total = _ints(r"A got (\d+), B got (\d+) of (\d+)", text)
    assert a + b == total
    written, second, late, total, replay = _ints(
        r"the producer wrote (\d+) records.*? read (\d+) and (\d+) of (\d+), and a replay "
        r"from offset 0 read (\d+)",
        text,
    )
    assert written > 0 and second == late == total == replay == written


def slow_consumer(text: str) -> None:
    (peak,) = _ints(r"the lag grew to (\d+) records", text)
    assert peak > 0
    produced, consumed, committed, end = _ints(
        r"nothing lost: (\d+) records produced, (\d+) consumed, committed offsets at (\d+) "
        r"\(log-end (\d+)\)",
        text,
    )
    assert produced == consumed == committed == end


def retention(text: str) -> None:
    (day,) = _ints(r"the first segment was deleted on day (\d+)", text)
    assert day == 8  # the records of day 1 are more than 7 days old on day 8
    (start,) = _ints(r"log_start_offset is now (\d+)", text)
    assert start > 0
    assert "reading offset 0 now fails" in text


def pubsub(text: str) -> None:
    assert "(every group got every record)" in text
    (total,) = _ints(r"read the same (\d+) records", text)
    for app in ("email", "search", "analytics", "archive"):
        assert f"{app} {total}" in text
    (started,) = _ints(r"'archive' started when (\d+) records", text)
    assert 0 < started < total


def group_scaling(text: str) -> None:
    assert re.search(r"1 consumer \(generation \d+\): C1 p0\+p1\+p2\+p3", text)
    assert re.search(r"5 consumers \(generation \d+\): [^•]*idle", text)
    assert "was killed: its partitions moved after" in text
    assert "left cleanly: its partitions moved after" in text
    assert "no partition had two owners in any generation" in text


def rebalance(text: str) -> None:
    for protocol in ("eager", "cooperative", "consumer"):
        for what in ("a consumer joined", "a consumer was killed"):
            assert re.search(rf"{protocol}, {what}: \d+ partitions stayed", text), (protocol, what)
    coop = re.search(
        r"cooperative, a consumer joined: (\d+) partitions stayed, paused at most ([\d.]+) s", text
    )
    assert int(coop.group(1)) > 0 and float(coop.group(2)) == 0
    assert "cooperative: the partitions that stayed were never paused" in text
    assert "consumer: the partitions that stayed were never paused" in text


def queue_vs_log(text: str) -> None:
    first, second, count = _ints(r"billing took (\d+) and analytics took (\d+) of (\d+)", text)
    assert first + second == count
    assert "late 'audit' app got 0 messages" in text
    a, b, late, total = _ints(r"read (\d+), (\d+) and (\d+) of (\d+)", text)
    assert a == b == late == total == count


def pipeline(text: str) -> None:
    (purchases,) = _ints(r"produced (\d+) purchases", text)
    invoices, files = _ints(r"sink: (\d+) invoices in .*? and (\d+) invoice files", text)
    assert purchases > 0 and invoices >= purchases and files == purchases
    committed, total = _ints(r"committed offsets reached (\d+) of (\d+)", text)
    assert committed == total == purchases


def iot(text: str) -> None:
    devices, sent = _ints(r"(\d+) devices sent (\d+) readings", text)
    (processed,) = _ints(r"shared the 6 partitions and processed (\d+)", text)
    assert processed == sent > 0
    assert f"{devices} devices were seen, each by exactly one processor" in text


def cluster(text: str) -> None:
    (brokers,) = _ints(r"(\d+) brokers and a controller ran as processes of their own", text)
    pids = re.search(r"processes of their own \(pids ([\d, ]+)\)", text).group(1).split(", ")
    assert len(set(pids)) == brokers + 1  # one process each
    assert "leaders per broker 1: 2, 2: 2, 3: 2, 4: 2; replicas per broker 1: 6, 2: 6" in text
    (hosted,) = _ints(r"taken it out of the ISR of its (\d+) partitions", text)
    assert hosted == 6
    failover = re.findall(r"p(\d+) leader 2 → (\d+), epoch (\d+) → (\d+)", text)
    assert [p for p, *_ in failover] == ["1", "5"]  # broker 2 led p1 and p5
    for _p, leader, old, new in failover:
        assert leader != "2" and int(new) == int(old) + 1
    while_down, on_led = _ints(
        r"(\d+) records were acknowledged while broker 2 was down, (\d+) of them on the "
        r"partitions it had led",
        text,
    )
    assert 0 < on_led < while_down
    (rejoined,) = _ints(r"rejoined the ISR of its (\d+) partitions", text)
    assert rejoined == hosted
    back = re.findall(r"p(\d+) leader (\d+) → 2, epoch (\d+) → (\d+)", text)
    assert [p for p, *_ in back] == ["1", "5"]
    for _p, _leader, old, new in back:
        assert int(new) == int(old) + 1
    found, acked, failed = _ints(
        r"nothing acknowledged was lost: (\d+) of the (\d+) acknowledged records \((\d+) "
        r"failed\) are in each of the 3 replicas",
        text,
    )
    assert found == acked > while_down and failed == 0
    (stored,) = _ints(r"the topic holds (\d+) records: each acknowledged record once", text)
    assert stored == acked
    assert f"its {brokers + 1} processes killed, its directory removed" in text


def compaction(text: str) -> None:
    (before,) = _ints(r"before cleaning: (\d+) records for 5 keys", text)
    read, removed, left = _ints(
        r"the cleaner read (\d+) records, mapped 5 keys and removed (\d+): the closed "
        r"segments now hold (\d+) records, one per key \(5 keys\)",
        text,
    )
    assert 0 < read < before and read - removed == left == 5
    assert "so the log has gaps" in text
    assert "bob's tombstone was kept for delete.retention.ms, then removed: bob has 0" in text
    assert "bob=" not in text and "alice=" in text


CHECKS = {
    "compaction": compaction,
    "socket-vs-log": socket_vs_log,
    "slow-consumer": slow_consumer,
    "retention": retention,
    "pubsub": pubsub,
    "group-scaling": group_scaling,
    "rebalance": rebalance,
    "queue-vs-log": queue_vs_log,
    "pipeline": pipeline,
    "iot": iot,
    "cluster": cluster,
}
