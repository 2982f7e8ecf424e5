"""``kcli.admin``: the admin API under the module path confluent-kafka uses
(``from confluent_kafka.admin import AdminClient, NewTopic``)."""

from kcli.client.admin import (
    AdminClient,
    BrokerMetadata,
    ClusterMetadata,
    ConsumerGroupDescription,
    ConsumerGroupListing,
    ConsumerGroupState,
    ConsumerGroupTopicPartitions,
    ListConsumerGroupsResult,
    MemberAssignment,
    MemberDescription,
    PartitionMetadata,
    TopicMetadata,
)
from kcli.client.types import NewPartitions, NewTopic

__all__ = [
    "AdminClient",
    "BrokerMetadata",
    "ClusterMetadata",
    "ConsumerGroupDescription",
    "ConsumerGroupListing",
    "ConsumerGroupState",
    "ConsumerGroupTopicPartitions",
    "ListConsumerGroupsResult",
    "MemberAssignment",
    "MemberDescription",
    "NewPartitions",
    "NewTopic",
    "PartitionMetadata",
    "TopicMetadata",
]
