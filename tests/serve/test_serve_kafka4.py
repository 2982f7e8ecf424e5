"""kcli serve at Kafka 4's protocol versions, API by API: the shapes that only recent versions
have (topic ids, batched FindCoordinator, multi-group OffsetFetch, ListGroups filters), the
APIs added for Kafka's tools, and the answers Kafka gives (any committed offset, Empty at once)."""

from __future__ import annotations

import subprocess
import time

from confluent_kafka import Producer as CkProducer

from kcli.serve import protocol as kp
from kcli.serve.consumer_protocol import encode_assignment, encode_subscription
from kcli.serve.partitions import topic_uuid
from storage import ProducerRecord, Store, encode_batch
from storage.compression import compress, decompress
from storage.groups import GroupStore

from .helpers import RawClient


def _client(server) -> RawClient:
    return RawClient(server.host, server.port)


def _topic(server, name: str, partitions: int = 1, **config) -> Store:
    store = Store(server.data_dir)
    store.create_topic(name, partitions, {k: str(v) for k, v in config.items()})
    return store


def _batch(*values: bytes) -> bytes:
    return encode_batch([ProducerRecord(v) for v in values], timestamp=int(time.time() * 1000))


# -- ApiVersions ---------------------------------------------------------------------------


def test_api_versions_v4_records_the_client_software_for_the_live_view(shared_server):
    c = _client(shared_server)
    response = c.call(
        kp.ApiVersionsRequest,
        kp.ApiVersionsResponse,
        4,
        client_software_name="kcli-test-client",
        client_software_version="4.1.0",
    )
    assert response.error_code == 0
    c.close()


# -- topic ids -----------------------------------------------------------------------------


def test_topic_ids_are_stable_and_serve_metadata_produce_fetch_and_delete(shared_server):
    store = _topic(shared_server, "ids-topic")
    stored = topic_uuid(store.topic("ids-topic").topic_id)
    c = _client(shared_server)
    topic_cls = kp.MetadataRequest.MetadataRequestTopic
    by_name = c.call(
        kp.MetadataRequest,
        kp.MetadataResponse,
        12,
        topics=[topic_cls(name="ids-topic", topic_id=None)],
        allow_auto_topic_creation=False,
        include_topic_authorized_operations=False,
    )
    assert by_name.topics[0].topic_id == stored
    by_id = c.call(
        kp.MetadataRequest,
        kp.MetadataResponse,
        13,
        topics=[topic_cls(name=None, topic_id=stored)],
        allow_auto_topic_creation=False,
        include_topic_authorized_operations=False,
    )
    assert [(t.name, t.topic_id, t.error_code) for t in by_id.topics] == [("ids-topic", stored, 0)]

    # Produce v13 names the topic by id only.
    data = kp.ProduceRequest.TopicProduceData(
        topic_id=stored,
        partition_data=[kp.ProduceRequest.TopicProduceData.PartitionProduceData(index=0, records=_batch(b"a", b"b"))],
    )  # fmt: skip
    produced = c.call(
        kp.ProduceRequest, kp.ProduceResponse, 13, transactional_id=None, acks=-1, timeout_ms=5000, topic_data=[data]
    )  # fmt: skip
    assert produced.responses[0].topic_id == stored
    assert produced.responses[0].partition_responses[0].error_code == 0

    # Fetch v18 by id; an unknown id is UNKNOWN_TOPIC_ID (100).
    import uuid

    fetch_topic = kp.FetchRequest.FetchTopic
    part = fetch_topic.FetchPartition(
        partition=0, current_leader_epoch=-1, fetch_offset=0, last_fetched_epoch=-1,
        log_start_offset=-1, partition_max_bytes=1 << 20,
    )  # fmt: skip
    fetched = c.call(
        kp.FetchRequest, kp.FetchResponse, 18, replica_id=-1, max_wait_ms=0, min_bytes=1, max_bytes=1 << 20,
        isolation_level=0, session_id=0, session_epoch=-1,
        topics=[fetch_topic(topic_id=stored, partitions=[part]), fetch_topic(topic_id=uuid.uuid4(), partitions=[part])],
        forgotten_topics_data=[], rack_id="",
    )  # fmt: skip
    known, unknown = fetched.responses
    assert known.topic_id == stored and known.partitions[0].high_watermark == 2
    assert unknown.partitions[0].error_code == 100

    # DeleteTopics v6 by id.
    deleted = c.call(
        kp.DeleteTopicsRequest,
        kp.DeleteTopicsResponse,
        6,
        topics=[kp.DeleteTopicsRequest.DeleteTopicState(name=None, topic_id=stored)],
        timeout_ms=5000,
    )
    assert [(r.name, r.topic_id, r.error_code) for r in deleted.responses] == [
        ("ids-topic", stored, 0)
    ]
    assert not Store(shared_server.data_dir).topic_exists("ids-topic")
    c.close()


def test_describe_topic_partitions_pages_with_a_cursor(shared_server):
    _topic(shared_server, "dtp-topic", 5)
    c = _client(shared_server)
    req = kp.DescribeTopicPartitionsRequest
    first = c.call(
        req, kp.DescribeTopicPartitionsResponse, 0,
        topics=[req.TopicRequest(name="dtp-topic")], response_partition_limit=3, cursor=None,
    )  # fmt: skip
    assert [p.partition_index for p in first.topics[0].partitions] == [0, 1, 2]
    assert (first.next_cursor.topic_name, first.next_cursor.partition_index) == ("dtp-topic", 3)
    rest = c.call(
        req, kp.DescribeTopicPartitionsResponse, 0,
        topics=[req.TopicRequest(name="dtp-topic")], response_partition_limit=3,
        cursor=req.Cursor(topic_name="dtp-topic", partition_index=3),
    )  # fmt: skip
    assert [p.partition_index for p in rest.topics[0].partitions] == [3, 4]
    assert rest.next_cursor is None
    c.close()


# -- groups --------------------------------------------------------------------------------


def test_find_coordinator_v4_answers_every_key(shared_server):
    c = _client(shared_server)
    response = c.call(
        kp.FindCoordinatorRequest,
        kp.FindCoordinatorResponse,
        6,
        key_type=0,
        coordinator_keys=["g1", "g2"],
    )
    assert [(x.key, x.node_id, x.port, x.error_code) for x in response.coordinators] == [
        ("g1", 0, shared_server.port, 0),
        ("g2", 0, shared_server.port, 0),
    ]
    c.close()


def _commit(c, group: str, topic: str, offset: int, version: int = 9):
    topic_cls = kp.OffsetCommitRequest.OffsetCommitRequestTopic
    part = topic_cls.OffsetCommitRequestPartition(
        partition_index=0, committed_offset=offset, committed_leader_epoch=-1, committed_metadata=""
    )
    return c.call(
        kp.OffsetCommitRequest, kp.OffsetCommitResponse, version,
        group_id=group, generation_id_or_member_epoch=-1, member_id="", group_instance_id=None,
        topics=[topic_cls(name=topic, partitions=[part])],
    )  # fmt: skip


def test_any_int64_is_a_committed_offset_and_offset_fetch_v8_reads_several_groups(shared_server):
    _topic(shared_server, "neg-topic")
    c = _client(shared_server)
    for group, offset in (("neg-a", -2), ("neg-b", -1), ("neg-c", 2**62)):
        assert _commit(c, group, "neg-topic", offset).topics[0].partitions[0].error_code == 0
    group_cls = kp.OffsetFetchRequest.OffsetFetchRequestGroup
    response = c.call(
        kp.OffsetFetchRequest, kp.OffsetFetchResponse, 9,
        groups=[
            group_cls(group_id=g, member_id=None, member_epoch=-1,
                      topics=[group_cls.OffsetFetchRequestTopics(name="neg-topic", partition_indexes=[0])])
            for g in ("neg-a", "neg-b", "neg-c")
        ],
        require_stable=False,
    )  # fmt: skip
    found = {
        g.group_id: (g.error_code, g.topics[0].partitions[0].committed_offset)
        for g in response.groups
    }
    assert found == {"neg-a": (0, -2), "neg-b": (0, -1), "neg-c": (0, 2**62)}
    c.close()
    # kcli group describe shows a negative committed offset as "-", with a note.
    proc = subprocess.run(
        ["kcli", "--data-dir", str(shared_server.data_dir), "group", "describe", "neg-a"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    row = next(line for line in proc.stdout.splitlines() if "neg-topic" in line).split()
    assert row[3] == "-" and "-2" not in row
    assert "Negative committed offsets (neg-topic-0=-2)" in " ".join(proc.stderr.split())


def _join_and_sync(c, group: str, topic: str) -> str:
    protocol = kp.JoinGroupRequest.JoinGroupRequestProtocol(
        name="range", metadata=encode_subscription([topic])
    )
    fields = dict(
        group_id=group, session_timeout_ms=10_000, rebalance_timeout_ms=10_000, group_instance_id=None,
        protocol_type="consumer", protocols=[protocol], reason=None,
    )  # fmt: skip
    first = c.call(kp.JoinGroupRequest, kp.JoinGroupResponse, 9, member_id="", **fields)
    assert first.error_code == 79  # MEMBER_ID_REQUIRED
    joined = c.call(
        kp.JoinGroupRequest, kp.JoinGroupResponse, 9, member_id=first.member_id, **fields
    )
    assert joined.error_code == 0 and joined.protocol_type == "consumer"
    synced = c.call(
        kp.SyncGroupRequest, kp.SyncGroupResponse, 5,
        group_id=group, generation_id=joined.generation_id, member_id=joined.member_id, group_instance_id=None,
        protocol_type="consumer", protocol_name="range",
        assignments=[kp.SyncGroupRequest.SyncGroupRequestAssignment(
            member_id=joined.member_id, assignment=encode_assignment([(topic, 0)]))],
    )  # fmt: skip
    assert (synced.error_code, synced.protocol_type, synced.protocol_name) == (
        0,
        "consumer",
        "range",
    )
    return joined.member_id


def test_describe_groups_says_empty_at_once_after_the_last_member_leaves(shared_server):
    _topic(shared_server, "leave-topic")
    c = _client(shared_server)
    member = _join_and_sync(c, "leave-group", "leave-topic")
    left = c.call(
        kp.LeaveGroupRequest, kp.LeaveGroupResponse, 5, group_id="leave-group",
        members=[kp.LeaveGroupRequest.MemberIdentity(member_id=member, group_instance_id=None, reason="done")],
    )  # fmt: skip
    assert left.error_code == 0
    described = c.call(
        kp.DescribeGroupsRequest,
        kp.DescribeGroupsResponse,
        6,
        groups=["leave-group"],
        include_authorized_operations=False,
    )
    group = described.groups[0]
    assert (group.group_state, group.members) == ("Empty", [])
    # An admin tool's offset reset, at once: the store must see no live member either.
    GroupStore(Store(shared_server.data_dir)).commit_offsets("leave-group", {("leave-topic", 0): 0})
    listed = c.call(
        kp.ListGroupsRequest, kp.ListGroupsResponse, 5, states_filter=["Empty"], types_filter=[]
    )
    assert ("leave-group", "Empty", "classic") in {
        (g.group_id, g.group_state, g.group_type) for g in listed.groups
    }
    stable = c.call(kp.ListGroupsRequest, kp.ListGroupsResponse, 4, states_filter=["Stable"])
    assert "leave-group" not in {g.group_id for g in stable.groups}
    c.close()


def test_offset_delete_forgets_partitions_no_member_subscribes_to(shared_server):
    _topic(shared_server, "odel-topic")
    c = _client(shared_server)
    assert _commit(c, "odel-group", "odel-topic", 3).topics[0].partitions[0].error_code == 0
    topic_cls = kp.OffsetDeleteRequest.OffsetDeleteRequestTopic
    response = c.call(
        kp.OffsetDeleteRequest, kp.OffsetDeleteResponse, 0, group_id="odel-group",
        topics=[topic_cls(name="odel-topic", partitions=[topic_cls.OffsetDeleteRequestPartition(partition_index=0)])],
    )  # fmt: skip
    assert response.error_code == 0 and response.topics[0].partitions[0].error_code == 0
    assert GroupStore(Store(shared_server.data_dir)).fetch_offsets("odel-group") == {}
    c.close()


# -- configs -------------------------------------------------------------------------------


def test_alter_configs_replaces_a_topics_configs(shared_server):
    store = _topic(shared_server, "alter-topic", **{"retention.ms": 1000, "segment.bytes": 1048576})
    c = _client(shared_server)
    resource = kp.AlterConfigsRequest.AlterConfigsResource
    response = c.call(
        kp.AlterConfigsRequest, kp.AlterConfigsResponse, 2, validate_only=False,
        resources=[resource(resource_type=2, resource_name="alter-topic",
                            configs=[resource.AlterableConfig(name="retention.ms", value="7200000")])],
    )  # fmt: skip
    assert response.responses[0].error_code == 0
    assert store.topic("alter-topic").overrides == {
        "retention.ms": 7200000
    }  # segment.bytes dropped
    bad = c.call(
        kp.AlterConfigsRequest, kp.AlterConfigsResponse, 0, validate_only=False,
        resources=[resource(resource_type=2, resource_name="alter-topic",
                            configs=[resource.AlterableConfig(name="retention.ms", value="soon")])],
    )  # fmt: skip
    assert bad.responses[0].error_code == 40 and "retention.ms" in bad.responses[0].error_message
    # IncrementalAlterConfigs v1 DELETE puts a config back to its default.
    inc = kp.IncrementalAlterConfigsRequest.AlterConfigsResource
    deleted = c.call(
        kp.IncrementalAlterConfigsRequest, kp.IncrementalAlterConfigsResponse, 1, validate_only=False,
        resources=[inc(resource_type=2, resource_name="alter-topic",
                       configs=[inc.AlterableConfig(name="retention.ms", config_operation=1, value=None)])],
    )  # fmt: skip
    assert deleted.responses[0].error_code == 0
    assert Store(shared_server.data_dir).topic("alter-topic").overrides == {}
    c.close()


# -- records and partitions ----------------------------------------------------------------


def test_delete_records_drops_whole_segments_below_the_offset(shared_server):
    store = _topic(shared_server, "delrec-topic", **{"segment.bytes": 1024})
    log = store.log("delrec-topic", 0)
    for i in range(20):
        log.append_records([ProducerRecord(b"x" * 200 + str(i).encode())])
    assert len(log.segments()) > 3
    c = _client(shared_server)
    topic_cls = kp.DeleteRecordsRequest.DeleteRecordsTopic
    response = c.call(
        kp.DeleteRecordsRequest, kp.DeleteRecordsResponse, 2, timeout_ms=5000,
        topics=[topic_cls(name="delrec-topic", partitions=[topic_cls.DeleteRecordsPartition(partition_index=0, offset=10)])],
    )  # fmt: skip
    result = response.topics[0].partitions[0]
    assert result.error_code == 0
    start = Store(shared_server.data_dir).log("delrec-topic", 0).log_start_offset
    assert 0 < result.low_watermark == start <= 10
    past = c.call(
        kp.DeleteRecordsRequest, kp.DeleteRecordsResponse, 2, timeout_ms=5000,
        topics=[topic_cls(name="delrec-topic", partitions=[topic_cls.DeleteRecordsPartition(partition_index=0, offset=99)])],
    )  # fmt: skip
    assert past.topics[0].partitions[0].error_code == 1  # OFFSET_OUT_OF_RANGE
    c.close()


def test_offset_for_leader_epoch_cluster_and_log_dirs(shared_server):
    store = _topic(shared_server, "epoch-topic")
    store.log("epoch-topic", 0).append_records([ProducerRecord(b"a"), ProducerRecord(b"b")])
    c = _client(shared_server)
    topic_cls = kp.OffsetForLeaderEpochRequest.OffsetForLeaderTopic
    epochs = c.call(
        kp.OffsetForLeaderEpochRequest, kp.OffsetForLeaderEpochResponse, 4, replica_id=-1,
        topics=[topic_cls(topic="epoch-topic", partitions=[
            topic_cls.OffsetForLeaderPartition(partition=0, current_leader_epoch=-1, leader_epoch=0),
            topic_cls.OffsetForLeaderPartition(partition=7, current_leader_epoch=-1, leader_epoch=0)])],
    )  # fmt: skip
    ok, missing = epochs.topics[0].partitions
    assert (ok.error_code, ok.end_offset) == (0, 2)
    assert missing.error_code == 3
    cluster = c.call(
        kp.DescribeClusterRequest, kp.DescribeClusterResponse, 2,
        include_cluster_authorized_operations=False, endpoint_type=1, include_fenced_brokers=False,
    )  # fmt: skip
    assert cluster.cluster_id == store.cluster_id
    assert [(b.broker_id, b.port) for b in cluster.brokers] == [(0, shared_server.port)]
    dirs = c.call(
        kp.DescribeLogDirsRequest, kp.DescribeLogDirsResponse, 4,
        topics=[kp.DescribeLogDirsRequest.DescribableLogDirTopic(topic="epoch-topic", partitions=[0])],
    )  # fmt: skip
    part = dirs.results[0].topics[0].partitions[0]
    assert part.partition_size == store.log("epoch-topic", 0).size_bytes() > 0
    c.close()


# -- compression ---------------------------------------------------------------------------


def test_every_codec_round_trips_in_kafkas_framing():
    data = b"kafka records " * 5000
    for codec in (1, 2, 3, 4):
        assert decompress(codec, compress(codec, data)) == data
    # The xerial framing Java producers write (header, then length-prefixed raw blocks) reads.
    import struct

    import cramjam

    blocks = [
        bytes(cramjam.snappy.compress_raw(data[i : i + 32768])) for i in range(0, len(data), 32768)
    ]
    xerial = (
        b"\x82SNAPPY\x00"
        + struct.pack(">ii", 1, 1)
        + b"".join(struct.pack(">i", len(b)) + b for b in blocks)
    )
    assert decompress(2, xerial) == data


def test_librdkafka_zstd_lz4_snappy_batches_are_read_by_kcli_consume(shared_server):
    for codec in ("zstd", "lz4", "snappy", "gzip"):
        topic = f"ck-{codec}"
        _topic(shared_server, topic)
        producer = CkProducer(
            {
                "bootstrap.servers": shared_server.bootstrap,
                "compression.type": codec,
                "linger.ms": 50,
            }
        )
        for i in range(20):
            producer.produce(topic, value=f"{codec}-{i}".encode() * 5)
        assert producer.flush(30) == 0
        proc = subprocess.run(
            ["kcli", "--data-dir", str(shared_server.data_dir), "consume", topic, "--from-beginning"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.splitlines() == [f"{codec}-{i}" * 5 for i in range(20)]
