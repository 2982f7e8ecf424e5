"""AdminClient: confluent-kafka's methods, futures and result types over a real store."""

from __future__ import annotations

import concurrent.futures

import pytest

from kcli import AdminClient, KafkaException, NewPartitions, NewTopic, TopicPartition
from kcli.admin import ConsumerGroupState, ConsumerGroupTopicPartitions
from kcli.client.types import OFFSET_INVALID, KafkaError
from storage import ProducerRecord, Store
from storage.groups import GroupStore


@pytest.fixture
def admin(tmp_path):
    return AdminClient({"data.dir": str(tmp_path / "data")})


def test_topics_through_futures(admin):
    futures = admin.create_topics(
        [NewTopic("a", num_partitions=3), NewTopic("b", 1, config={"retention.ms": "1000"})]
    )
    assert set(futures) == {"a", "b"}
    assert all(isinstance(f, concurrent.futures.Future) for f in futures.values())
    assert [f.result() for f in futures.values()] == [None, None]

    again = admin.create_topics([NewTopic("a", 1)])["a"]
    with pytest.raises(KafkaException) as info:
        again.result()
    assert info.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS
    with pytest.raises(KafkaException, match="larger than available brokers"):
        admin.create_topics([NewTopic("c", 1, replication_factor=3)])["c"].result()
    assert admin.create_topics([NewTopic("v", 2)], validate_only=True)["v"].result() is None

    admin.create_partitions([NewPartitions("a", 5)])["a"].result()
    with pytest.raises(KafkaException) as info:
        admin.create_partitions([NewPartitions("a", 2)])["a"].result()
    assert info.value.args[0].code() == KafkaError.INVALID_PARTITIONS

    md = admin.list_topics()
    assert sorted(md.topics) == ["a", "b"]
    assert sorted(md.topics["a"].partitions) == [0, 1, 2, 3, 4]
    assert md.topics["a"].partitions[0].leader == 0 and list(md.brokers) == [0]
    assert admin.list_topics("nope").topics["nope"].error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART

    admin.delete_topics(["b"])["b"].result()
    assert sorted(admin.list_topics().topics) == ["a"]
    with pytest.raises(KafkaException):
        admin.delete_topics(["b"])["b"].result()


def test_consumer_groups(admin, tmp_path):
    admin.create_topics([NewTopic("t", 2)])["t"].result()
    store = Store(tmp_path / "data")
    store.log("t", 0).append_records([ProducerRecord(b"x")] * 4)
    groups = GroupStore(store)
    member = groups.join_group("live", topics=["t"], client_id="me", session_timeout_ms=600_000)
    groups.commit_offsets("idle", {("t", 0): 3})

    listed = admin.list_consumer_groups().result()
    assert {(g.group_id, g.state) for g in listed.valid} == {
        ("idle", ConsumerGroupState.EMPTY),
        ("live", ConsumerGroupState.STABLE),
    }
    only_stable = admin.list_consumer_groups(states={ConsumerGroupState.STABLE}).result()
    assert [g.group_id for g in only_stable.valid] == ["live"]

    desc = admin.describe_consumer_groups(["live", "nope"])
    live = desc["live"].result()
    assert (live.state, live.partition_assignor, live.is_simple_consumer_group) == (
        ConsumerGroupState.STABLE,
        "range",
        False,
    )
    assert [m.member_id for m in live.members] == [member.member_id]
    assert live.members[0].assignment.topic_partitions == [
        TopicPartition("t", 0),
        TopicPartition("t", 1),
    ]
    with pytest.raises(KafkaException) as info:
        desc["nope"].result()
    assert info.value.args[0].code() == KafkaError.GROUP_ID_NOT_FOUND

    req = [ConsumerGroupTopicPartitions("idle", [TopicPartition("t", 0), TopicPartition("t", 1)])]
    got = admin.list_consumer_group_offsets(req)["idle"].result()
    assert [(tp.partition, tp.offset) for tp in got.topic_partitions] == [
        (0, 3),
        (1, OFFSET_INVALID),
    ]
    alter = [ConsumerGroupTopicPartitions("idle", [TopicPartition("t", 1, 2)])]
    admin.alter_consumer_group_offsets(alter)["idle"].result()
    got = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions("idle")])["idle"].result()
    assert [(tp.partition, tp.offset) for tp in got.topic_partitions] == [(0, 3), (1, 2)]

    # Like Kafka: offsets of a group with live members cannot be altered, nor the group deleted.
    busy = [ConsumerGroupTopicPartitions("live", [TopicPartition("t", 0, 0)])]
    with pytest.raises(KafkaException) as info:
        admin.alter_consumer_group_offsets(busy)["live"].result()
    assert info.value.args[0].code() == KafkaError.UNKNOWN_MEMBER_ID
    deleted = admin.delete_consumer_groups(["live", "idle"])
    with pytest.raises(KafkaException) as info:
        deleted["live"].result()
    assert info.value.args[0].code() == KafkaError.NON_EMPTY_GROUP
    assert deleted["idle"].result() is None
    groups.leave_group("live", member.member_id)
    assert [g.group_id for g in admin.list_consumer_groups().result().valid] == ["live"]


def test_requests_are_checked_like_confluent_kafka(admin):
    with pytest.raises(ValueError, match="single consumer group"):
        admin.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions("a"), ConsumerGroupTopicPartitions("b")]
        )
    with pytest.raises(TypeError):
        admin.describe_consumer_groups("not-a-list")
    with pytest.raises(KafkaException, match="No such configuration property"):
        AdminClient({"bootstrap.server": "typo"})
