"""The cluster's rules without processes: placement, the leader epoch cache, the metadata
image and log, the offsets topic's records and Java's String.hashCode."""

from __future__ import annotations

import json

import pytest

from kcli.cluster.group_metadata import (
    GroupMetadata,
    MemberMetadata,
    group_from,
    group_metadata_key,
    group_metadata_value,
    is_group_metadata_key,
    metadata_of,
    parse_group_metadata,
)
from kcli.cluster.group_offsets import (
    java_string_hash,
    offset_commit_key,
    offset_commit_value,
    offsets_partition_for,
    parse_offset_commit,
)
from kcli.cluster.metadata import MetadataImage, MetadataLog
from kcli.cluster.placement import assign_replicas
from storage import Store
from storage.leader_epoch import LeaderEpochCache, batch_epochs, stamp_leader_epoch
from storage.records import validate_batch


def test_rack_unaware_placement_spreads_leaders_and_followers():
    assert assign_replicas(6, [1, 2, 3], 3) == [
        [1, 2, 3],
        [2, 3, 1],
        [3, 1, 2],
        [1, 3, 2],
        [2, 1, 3],
        [3, 2, 1],
    ]
    placed = assign_replicas(8, [1, 2, 3, 4], 2)
    assert [r[0] for r in placed] == [1, 2, 3, 4, 1, 2, 3, 4]
    assert all(len(set(r)) == 2 for r in placed)
    with pytest.raises(ValueError):
        assign_replicas(1, [1, 2], 3)


def test_java_string_hash_and_the_offsets_partition_of_a_group():
    assert java_string_hash("") == 0
    assert java_string_hash("hello") == 99162322
    assert java_string_hash("polygenelubricants") == -(2**31)
    assert offsets_partition_for("polygenelubricants", 50) == 0  # Utils.abs(MIN_VALUE) is 0
    assert offsets_partition_for("hello", 50) == 99162322 % 50


def test_offset_commit_records_round_trip():
    key = offset_commit_key("billing", "orders", 2)
    value = offset_commit_value(1234, "note", 1700000000000)
    assert key[:2] == b"\x00\x01" and value[:2] == b"\x00\x03"
    assert parse_offset_commit(key, value) == ("billing", "orders", 2, 1234, "note", 1700000000000)
    assert parse_offset_commit(key, None)[3] is None


def test_group_metadata_records_use_kafkas_layout_and_round_trip():
    member = MemberMetadata("m-1", None, "app", "/127.0.0.1", 300000, 45000, b"sub", b"asg")
    meta = GroupMetadata("billing", "consumer", 7, "range", "m-1", 1700000000000, (member,))
    key = group_metadata_key("billing")
    assert key == b"\x00\x02\x00\x07billing" and is_group_metadata_key(key)
    assert not is_group_metadata_key(offset_commit_key("billing", "orders", 0))
    value = group_metadata_value(meta)
    # GroupMetadataValue v3: protocol type, generation, protocol, leader, state timestamp,
    # then each member: id, instance id (null), client id, host, rebalance and session
    # timeouts, subscription and assignment bytes.
    assert value == (
        b"\x00\x03\x00\x08consumer\x00\x00\x00\x07\x00\x05range\x00\x03m-1"
        + (1700000000000).to_bytes(8, "big")
        + b"\x00\x00\x00\x01\x00\x03m-1\xff\xff\x00\x03app\x00\x0a/127.0.0.1"
        + (300000).to_bytes(4, "big")
        + (45000).to_bytes(4, "big")
        + b"\x00\x00\x00\x03sub\x00\x00\x00\x03asg"
    )
    assert parse_group_metadata(key, value) == ("billing", meta)
    assert parse_group_metadata(key, None) == ("billing", None)
    group = group_from(meta, now=5.0)
    assert (group.state, group.generation, group.leader) == ("Stable", 7, "m-1")
    assert group.members["m-1"].assignment == b"asg"
    assert metadata_of(group, 1700000000000) == meta


def test_stamping_the_leader_epoch_keeps_the_batch_valid(tmp_path):
    store = Store(tmp_path)
    store.create_topic("t", 1)
    log = store.log("t", 0)
    log.append_records([b"a", b"b"])
    data = bytearray(log.read(0).records)
    stamp_leader_epoch(data, 7)
    validate_batch(bytes(data), where="test")  # the CRC does not cover the epoch
    assert list(batch_epochs(data)) == [(0, 7)]


def test_leader_epoch_cache_answers_as_kafkas_end_offset_for(tmp_path):
    cache = LeaderEpochCache(tmp_path)
    for epoch, start in ((0, 0), (2, 100), (5, 250)):
        cache.assign(epoch, start)
    cache.assign(4, 300)  # older than the latest: ignored
    assert cache.entries == [(0, 0), (2, 100), (5, 250)]
    assert cache.end_offset_for(5, 400) == (5, 400)  # the current epoch ends at the log end
    assert cache.end_offset_for(2, 400) == (2, 250)
    assert cache.end_offset_for(3, 400) == (2, 250)  # unknown epoch: the one below it
    assert cache.end_offset_for(0, 400) == (0, 100)
    assert cache.end_offset_for(6, 400) == (-1, -1)
    cache.truncate_from_end(120)
    assert cache.entries == [(0, 0), (2, 100)]
    text = (tmp_path / "leader-epoch-checkpoint").read_text()
    assert text == "0\n2\n0 0\n2 100\n"


def test_the_image_derives_epochs_from_the_records():
    image = MetadataImage()
    records = [
        {"type": "RegisterBrokerRecord", "brokerId": 1, "host": "h", "port": 1, "fenced": True},
        {"type": "UnfenceBrokerRecord", "id": 1, "epoch": 0},
        {"type": "TopicRecord", "name": "t", "topicId": "X"},
        {
            "type": "PartitionRecord",
            "partitionId": 0,
            "topicId": "X",
            "replicas": [1, 2],
            "isr": [1, 2],
            "leader": 1,
            "leaderEpoch": 0,
            "partitionEpoch": 0,
        },
        {"type": "PartitionChangeRecord", "partitionId": 0, "topicId": "X", "isr": [1]},
        {"type": "PartitionChangeRecord", "partitionId": 0, "topicId": "X", "leader": 2},
    ]
    for offset, record in enumerate(records):
        image.apply(offset, record)
    p = image.partition("t", 0)
    assert (p.leader, p.leader_epoch, p.partition_epoch, p.isr) == (2, 1, 2, [1])
    assert image.brokers[1].epoch == 0 and not image.brokers[1].fenced


def test_metadata_log_drops_a_torn_last_line(tmp_path):
    path = tmp_path / "metadata.log"
    log = MetadataLog(path)
    log.append([{"type": "TopicRecord", "name": "a", "topicId": "A"}])
    log.close()
    with open(path, "a") as f:
        f.write('{"type": "TopicRec')  # a controller killed mid-write
    again = MetadataLog(path)
    assert again.records == [{"type": "TopicRecord", "name": "a", "topicId": "A"}]
    assert path.read_text().endswith("}\n")
    again.close()
    with open(path, "a") as f:
        f.write("not json\n")
    with pytest.raises(ValueError, match="line 2"):
        MetadataLog(path)
    assert json.loads(path.read_text().splitlines()[0])["name"] == "a"


@pytest.mark.parametrize("cluster_id", ["-SgCbU0JSgGTqvV0qXT1nQ", "w7pAnTacSTWAc1PVpW6HZg"])
def test_the_brokers_command_line_carries_any_cluster_id(tmp_path, cluster_id):
    """A cluster id is URL-safe base64 and may start with "-": the broker must still read it
    as the value of --cluster-id (1 cluster in 64 would not start otherwise)."""
    from kcli.cluster.broker import arguments
    from kcli.cluster.launcher import Cluster

    state = {
        "cluster_id": cluster_id,
        "brokers": 3,
        "port": 19092,
        "controller_port": 40000,
        "config": {"min.insync.replicas": "2"},
        "serve_config": {},
    }
    argv = Cluster(tmp_path).broker_args(state, 2, "abc")
    assert argv[0] == "kcli.cluster.broker"
    args = arguments().parse_args(argv[1:])
    assert (args.cluster_id, args.id, args.port) == (cluster_id, 2, 19093)
    assert args.config == ["min.insync.replicas=2"]
