"""The admin APIs `kcli topic alter` and `kcli group delete` need from a cluster, as `kcli
serve` answers them to a real client (confluent-kafka): CreatePartitions,
IncrementalAlterConfigs and DeleteGroups."""

from __future__ import annotations

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    ResourceType,
)

from storage import Store

TIMEOUT_S = 60


@pytest.fixture
def admin(cluster):
    a = AdminClient({"bootstrap.servers": cluster.bootstrap, "log_level": 0})
    a.create_topics([NewTopic("t", 2)])["t"].result(TIMEOUT_S)
    return a


def error_of(future) -> tuple[str, str]:
    with pytest.raises(KafkaException) as caught:
        future.result(TIMEOUT_S)
    err = caught.value.args[0]
    return err.name(), err.str()


def set_config(admin, name: str, key: str, value: str, op=AlterConfigOpType.SET, **kw):
    resource = ConfigResource(
        ResourceType.TOPIC,
        name,
        incremental_configs=[ConfigEntry(key, value, incremental_operation=op)],
    )
    return next(iter(admin.incremental_alter_configs([resource], **kw).values()))


def test_create_partitions_grows_and_refuses_shrinking(admin, cluster):
    admin.create_partitions([NewPartitions("t", 4)])["t"].result(TIMEOUT_S)
    assert Store(cluster.data_dir).topic("t").partitions == 4
    name, text = error_of(admin.create_partitions([NewPartitions("t", 3)])["t"])
    assert name == "INVALID_PARTITIONS" and "can only grow" in text
    name, text = error_of(admin.create_partitions([NewPartitions("t", 4)])["t"])
    assert name == "INVALID_PARTITIONS" and "already has 4 partitions" in text
    name, _ = error_of(admin.create_partitions([NewPartitions("nope", 4)])["nope"])
    assert name == "UNKNOWN_TOPIC_OR_PART"
    admin.create_partitions([NewPartitions("t", 9)], validate_only=True)["t"].result(TIMEOUT_S)
    assert Store(cluster.data_dir).topic("t").partitions == 4  # only validated


def test_incremental_alter_configs_sets_validates_and_deletes(admin, cluster):
    set_config(admin, "t", "retention.ms", "60000").result(TIMEOUT_S)
    assert Store(cluster.data_dir).topic("t").overrides == {"retention.ms": 60000}
    set_config(admin, "t", "retention.ms", "5", validate_only=True).result(TIMEOUT_S)
    assert Store(cluster.data_dir).topic("t").overrides == {"retention.ms": 60000}
    name, text = error_of(set_config(admin, "t", "retention.ms", "soon"))
    assert name == "INVALID_CONFIG" and "retention.ms" in text
    assert Store(cluster.data_dir).topic("t").overrides == {"retention.ms": 60000}
    # DELETE returns the key to its default, as Kafka does.
    set_config(admin, "t", "retention.ms", None, AlterConfigOpType.DELETE).result(TIMEOUT_S)
    assert Store(cluster.data_dir).topic("t").overrides == {}


def test_delete_groups_removes_offsets_and_knows_unknown_groups(admin, cluster):
    offsets = ConsumerGroupTopicPartitions("g", [TopicPartition("t", 0, 0)])
    admin.alter_consumer_group_offsets([offsets])["g"].result(TIMEOUT_S)
    listed = admin.list_consumer_groups().result(TIMEOUT_S).valid
    assert [g.group_id for g in listed] == ["g"]
    admin.delete_consumer_groups(["g"])["g"].result(TIMEOUT_S)
    assert admin.list_consumer_groups().result(TIMEOUT_S).valid == []
    # Only lock files may stay behind (the store keeps them; they hold no state).
    assert [p.name for p in (cluster.data_dir / "groups").iterdir() if p.suffix != ".lock"] == []
    name, _ = error_of(admin.delete_consumer_groups(["g"])["g"])
    assert name == "GROUP_ID_NOT_FOUND"
