"""Conformance: every API kcli serve advertises, at every version it advertises, answers a
request encoded by kafka-python's codec (generated from Kafka's JSON schemas) with a response
that decodes at that version and holds exactly the bytes the codec would write for it."""

from __future__ import annotations

import uuid

import pytest

from kcli.serve.partitions import topic_uuid
from kcli.serve.protocol import APIS
from storage import ProducerRecord, Store, encode_batch

from .helpers import RawClient

TOPIC = "conformance"
GROUP = "conformance-group"


def _topic_id(store_dir) -> uuid.UUID:
    return topic_uuid(Store(store_dir).topic(TOPIC).topic_id)


def _fields(api_key: int, version: int, topic_id: uuid.UUID) -> dict:
    """A meaningful request body for each API: about a real topic and group where it can be."""
    api = APIS[api_key]
    req = api.request

    def sub(name: str):
        return getattr(req, name)

    batch = encode_batch([ProducerRecord(b"conformance")], timestamp=1_700_000_000_000)
    if api_key == 0:  # Produce
        topic = sub("TopicProduceData")
        part = topic.PartitionProduceData(index=0, records=batch)
        return {
            "transactional_id": None,
            "acks": -1,
            "timeout_ms": 1000,
            "topic_data": [topic(name=TOPIC, topic_id=topic_id, partition_data=[part])],
        }
    if api_key == 1:  # Fetch
        topic = sub("FetchTopic")
        part = topic.FetchPartition(
            partition=0,
            current_leader_epoch=-1,
            fetch_offset=0,
            last_fetched_epoch=-1,
            log_start_offset=-1,
            partition_max_bytes=1 << 20,
        )
        return {
            "replica_id": -1,
            "max_wait_ms": 0,
            "min_bytes": 1,
            "max_bytes": 1 << 20,
            "isolation_level": 0,
            "session_id": 0,
            "session_epoch": -1,
            "topics": [topic(topic=TOPIC, topic_id=topic_id, partitions=[part])],
            "forgotten_topics_data": [],
            "rack_id": "",
        }
    if api_key == 2:  # ListOffsets
        topic = sub("ListOffsetsTopic")
        part = topic.ListOffsetsPartition(partition_index=0, current_leader_epoch=-1, timestamp=-2)
        return {
            "replica_id": -1,
            "isolation_level": 0,
            "topics": [topic(name=TOPIC, partitions=[part])],
        }
    if api_key == 3:  # Metadata
        topic = sub("MetadataRequestTopic")
        named = (
            topic(name=TOPIC, topic_id=None)
            if version < 10
            else topic(name=None, topic_id=topic_id)
        )
        return {"topics": [named], "allow_auto_topic_creation": False}
    if api_key == 8:  # OffsetCommit
        topic = sub("OffsetCommitRequestTopic")
        part = topic.OffsetCommitRequestPartition(
            partition_index=0, committed_offset=-2, committed_leader_epoch=-1, committed_metadata=""
        )
        return {
            "group_id": GROUP,
            "generation_id_or_member_epoch": -1,
            "member_id": "",
            "group_instance_id": None,
            "retention_time_ms": -1,
            "topics": [topic(name=TOPIC, partitions=[part])],
        }
    if api_key == 9:  # OffsetFetch
        if version >= 8:
            group = sub("OffsetFetchRequestGroup")
            topics = [group.OffsetFetchRequestTopics(name=TOPIC, partition_indexes=[0])]
            return {"groups": [group(group_id=GROUP, topics=topics)], "require_stable": False}
        topic = sub("OffsetFetchRequestTopic")
        return {"group_id": GROUP, "topics": [topic(name=TOPIC, partition_indexes=[0])]}
    if api_key == 10:  # FindCoordinator
        return {"key": GROUP, "key_type": 0, "coordinator_keys": [GROUP, GROUP + "-2"]}
    if api_key == 11:  # JoinGroup: a first join with no member id (answered at once)
        protocol = sub("JoinGroupRequestProtocol")
        return {
            # A group of its own per version: in a shared one, each join would wait out the
            # rebalance timeout for the member the previous version left behind.
            "group_id": f"{GROUP}-join-v{version}",
            "session_timeout_ms": 10_000,
            "rebalance_timeout_ms": 10_000,
            "member_id": "",
            "group_instance_id": None,
            "protocol_type": "consumer",
            "protocols": [
                protocol(name="range", metadata=b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")
            ],
            "reason": None,
        }
    if api_key in (12, 14):  # Heartbeat, SyncGroup: an unknown member
        fields = {
            "group_id": GROUP,
            "generation_id": 1,
            "member_id": "nobody",
            "group_instance_id": None,
        }
        if api_key == 14:
            fields.update(protocol_type="consumer", protocol_name="range", assignments=[])
        return fields
    if api_key == 13:  # LeaveGroup
        member = sub("MemberIdentity")
        return {
            "group_id": GROUP,
            "member_id": "nobody",
            "members": [member(member_id="nobody", group_instance_id=None, reason=None)],
        }
    if api_key == 15:
        return {"groups": [GROUP], "include_authorized_operations": False}
    if api_key == 16:
        return {"states_filter": ["Empty"], "types_filter": []}
    if api_key == 18:
        return {"client_software_name": "conformance", "client_software_version": "1"}
    if api_key == 19:  # CreateTopics: validate only
        topic = sub("CreatableTopic")
        return {
            "topics": [
                topic(name=f"conf-new-{version}", num_partitions=1, replication_factor=1,
                      assignments=[], configs=[])
            ],
            "timeout_ms": 1000,
            "validate_only": True,
        }  # fmt: skip
    if api_key == 20:  # DeleteTopics: one that does not exist
        topic = sub("DeleteTopicState")
        return {
            "topics": [topic(name="conf-missing", topic_id=None)],
            "topic_names": ["conf-missing"],
            "timeout_ms": 1000,
        }
    if api_key == 21:  # DeleteRecords: before offset 0 (nothing)
        topic = sub("DeleteRecordsTopic")
        part = topic.DeleteRecordsPartition(partition_index=0, offset=0)
        return {"topics": [topic(name=TOPIC, partitions=[part])], "timeout_ms": 1000}
    if api_key == 22:
        return {
            "transactional_id": None,
            "transaction_timeout_ms": -1,
            "producer_id": -1,
            "producer_epoch": -1,
        }
    if api_key == 23:
        topic = sub("OffsetForLeaderTopic")
        part = topic.OffsetForLeaderPartition(partition=0, current_leader_epoch=-1, leader_epoch=0)
        return {"replica_id": -1, "topics": [topic(topic=TOPIC, partitions=[part])]}
    if api_key == 32:
        resource = sub("DescribeConfigsResource")
        return {
            "resources": [resource(resource_type=2, resource_name=TOPIC, configuration_keys=None)],
            "include_synonyms": False,
            "include_documentation": False,
        }
    if api_key in (33, 44):  # AlterConfigs / IncrementalAlterConfigs: validate only
        resource = sub("AlterConfigsResource")
        config = resource.AlterableConfig
        entry = {"name": "retention.ms", "value": "3600000"}
        if api_key == 44:
            entry["config_operation"] = 0
        return {
            "resources": [
                resource(resource_type=2, resource_name=TOPIC, configs=[config(**entry)])
            ],
            "validate_only": True,
        }
    if api_key == 35:
        topic = sub("DescribableLogDirTopic")
        return {"topics": [topic(topic=TOPIC, partitions=[0])]}
    if api_key == 37:  # CreatePartitions: validate only
        topic = sub("CreatePartitionsTopic")
        return {
            "topics": [topic(name=TOPIC, count=2, assignments=None)],
            "timeout_ms": 1000,
            "validate_only": True,
        }
    if api_key == 42:
        return {"groups_names": ["conf-no-such-group"]}
    if api_key == 47:
        topic = sub("OffsetDeleteRequestTopic")
        part = topic.OffsetDeleteRequestPartition(partition_index=0)
        return {"group_id": GROUP, "topics": [topic(name=TOPIC, partitions=[part])]}
    if api_key == 60:
        return {
            "include_cluster_authorized_operations": False,
            "endpoint_type": 1,
            "include_fenced_brokers": False,
        }
    if api_key == 68:  # ConsumerGroupHeartbeat: a member joins (v0: the broker names it)
        return {
            "group_id": f"conf-kip848-v{version}",
            "member_id": "" if version == 0 else "conf-member",
            "member_epoch": 0,
            "rebalance_timeout_ms": 30000,
            "subscribed_topic_names": [TOPIC],
            "topic_partitions": [],
        }
    if api_key == 69:
        return {"group_ids": [f"conf-kip848-v{version}"], "include_authorized_operations": False}
    if api_key == 75:
        topic = sub("TopicRequest")
        return {"topics": [topic(name=TOPIC)], "response_partition_limit": 2000, "cursor": None}
    raise AssertionError(f"no conformance request for API {api_key} ({api.name})")  # fmt: skip


CASES = [
    pytest.param(key, version, id=f"{api.name}-v{version}")
    for key, api in sorted(APIS.items())
    for version in range(api.min_version, api.max_version + 1)
]


@pytest.fixture(scope="module")
def conformance_server(shared_server):
    client = RawClient(shared_server.host, shared_server.port)
    from kafka.protocol.admin import CreateTopicsRequest, CreateTopicsResponse

    topic = CreateTopicsRequest.CreatableTopic(
        name=TOPIC, num_partitions=1, replication_factor=1, assignments=[], configs=[]
    )
    created = client.call(
        CreateTopicsRequest,
        CreateTopicsResponse,
        4,
        topics=[topic],
        timeout_ms=1000,
        validate_only=False,
    )
    assert created.topics[0].error_code in (0, 36)
    client.close()
    return shared_server


@pytest.mark.parametrize("api_key,version", CASES)
def test_every_advertised_api_and_version_answers_in_kind(conformance_server, api_key, version):
    api = APIS[api_key]
    client = RawClient(conformance_server.host, conformance_server.port)
    try:
        fields = _fields(api_key, version, _topic_id(conformance_server.data_dir))
        correlation_id, body = client.request(api.request, version, **fields)
    finally:
        client.close()
    assert correlation_id == client.correlation_id
    flexible = api.flexible(version) and api_key != 18
    if flexible:
        assert body[:1] == b"\x00", "a flexible response header ends with an empty tag section"
        body = body[1:]
    response = api.response.decode(body, version=version)
    # Decoding consumed exactly the answer: the codec writes the same bytes for what it read.
    response._header = None  # a decoded message has no header slot set; encode() reads it
    assert bytes(response.encode(version=version)) == bytes(body)
    errors = _error_codes(response)
    assert -1 not in errors, f"UNKNOWN_SERVER_ERROR in {response}"
    assert 35 not in errors, f"UNSUPPORTED_VERSION in {response}"


def _error_codes(message) -> list[int]:
    """Every error_code anywhere in a decoded response."""
    found = []
    stack = [message]
    while stack:
        m = stack.pop()
        if isinstance(m, list):
            stack.extend(m)
            continue
        if not hasattr(m, "_struct"):
            continue
        for name in m._struct.fields:
            value = getattr(m, name, None)
            if name == "error_code" and isinstance(value, int):
                found.append(value)
            elif isinstance(value, list) or hasattr(value, "_struct"):
                stack.append(value)
    return found


def test_docs_list_every_advertised_api_with_its_versions():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()
    for key, api in APIS.items():
        versions = (
            f"v{api.min_version}"
            if api.min_version == api.max_version
            else f"v{api.min_version}–v{api.max_version}"
        )
        assert f"| {key} | {api.name} | {versions} |" in doc, (
            f"{api.name} is not in docs/protocol.md"
        )
