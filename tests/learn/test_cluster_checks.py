"""The cluster lessons' check kinds, judged on a metadata log written by the controller's own
writer (``MetadataLog``): no cluster runs, so every history can be told exactly.  The lesson
suite judges them on real clusters."""

from __future__ import annotations

from kcli.cluster.launcher import CONTROLLER, cluster_dir
from kcli.cluster.metadata import MetadataLog
from kcli.learn.checks import run_checks

TOPIC_ID = "AAAAAAAAAAAAAAAAAAAAAA"


def _log(data_dir, *changes: dict) -> None:
    """A 3-broker cluster's metadata log: topic audit (replicas 1,2,3, leader 1), then
    ``changes`` as PartitionChangeRecords of its partition 0 (appended to the log so far)."""
    log = MetadataLog(cluster_dir(data_dir) / CONTROLLER / "metadata.log")
    if not log.records:
        log.append(_cluster_with_audit())
    log.append(
        [
            {"type": "PartitionChangeRecord", "partitionId": 0, "topicId": TOPIC_ID, **change}
            for change in changes
        ]
    )


def _cluster_with_audit() -> list[dict]:
    brokers = (1, 2, 3)
    return [
        *(
            {"type": "RegisterBrokerRecord", "brokerId": b, "host": "127.0.0.1", "port": 19091 + b}
            for b in brokers
        ),
        *({"type": "UnfenceBrokerRecord", "id": b, "epoch": b - 1} for b in brokers),
        {"type": "TopicRecord", "name": "audit", "topicId": TOPIC_ID},
        {
            "type": "ConfigRecord",
            "resourceName": "audit",
            "name": "min.insync.replicas",
            "value": "2",
        },
        {
            "type": "PartitionRecord",
            "partitionId": 0,
            "topicId": TOPIC_ID,
            "replicas": [1, 2, 3],
            "isr": [1, 2, 3],
            "leader": 1,
        },
    ]


def _messages(data_dir, *specs: dict) -> list[tuple[bool, str]]:
    return [(f.ok, f.message) for f in run_checks(specs, data_dir).findings]


def test_on_a_fresh_store_each_cluster_check_says_to_start_the_cluster(data_dir):
    specs = [
        {"kind": kind, "topic": "audit"}
        for kind in ("cluster_topic", "isr_shrink_expand", "not_enough_replicas", "elections")
    ]
    assert _messages(data_dir, *specs) == [
        (
            False,
            "no cluster has run with this data directory yet (start the cluster as the lesson "
            "does: kcli cluster start ...)",
        )
    ]


def test_a_shrink_alone_is_half_of_isr_shrink_and_expand(data_dir):
    _log(data_dir, {"isr": [1, 2]})
    assert _messages(data_dir, {"kind": "isr_shrink_expand", "topic": "audit"}) == [
        (True, "a replica of 'audit' left the ISR"),
        (False, "no replica of 'audit' has rejoined the ISR yet (kcli cluster resume ID)"),
    ]
    _log(data_dir, {"isr": [1, 2, 3]})
    assert all(ok for ok, _ in _messages(data_dir, {"kind": "isr_shrink_expand", "topic": "audit"}))


def test_topic_layout_configs_and_an_incomplete_isr(data_dir):
    _log(data_dir, {"isr": [1, 3]})
    spec = {
        "kind": "cluster_topic",
        "topic": "audit",
        "partitions": 2,
        "replication_factor": 3,
        "config": {"min.insync.replicas": 2},
        "isr_complete": True,
    }
    found = _messages(data_dir, spec)
    assert found[:4] == [
        (True, "the cluster has topic 'audit'"),
        (False, "topic 'audit' has 1 partition, the exercise wants 2"),
        (True, "topic 'audit' has replication factor 3"),
        (True, "topic 'audit' has min.insync.replicas=2"),
    ]
    assert found[4][0] is False and "audit-0 (ISR 1,3 of 1,2,3)" in found[4][1]
    assert _messages(data_dir, {"kind": "min_insync", "topic": "audit", "value": 2}) == [
        (True, "topic 'audit' has min.insync.replicas=2 (its topic config)")
    ]


def test_elections_tell_a_leader_from_the_isr_from_an_unclean_one(data_dir):
    clean_then_unclean = (
        {"isr": [1, 2]},  # broker 3 left the ISR
        {"leader": 2, "isr": [2]},  # broker 1 died: 2 was in the ISR
        {"leader": -1},  # broker 2 died: offline, no election
        {"leader": 3, "isr": [3]},  # 3 was not in the ISR: unclean
    )
    _log(data_dir, *clean_then_unclean[:3])
    spec = {"kind": "elections", "topic": "audit", "clean": True, "unclean": True}
    assert _messages(data_dir, spec) == [
        (True, "a new leader of 'audit' was elected from its in-sync replicas"),
        (False, "no unclean election on 'audit' yet (see the lesson's second experiment)"),
    ]
    _log(data_dir, clean_then_unclean[3])
    assert _messages(data_dir, spec)[1] == (
        True,
        "broker 3 led audit-0 from outside its ISR (2): unclean",
    )
