"""``kcli.admin``: the admin API under the module path confluent-kafka uses
(``from confluent_kafka.admin import AdminClient, NewTopic``)."""

from kcli.api import AdminClient
from kcli.client.group_states import ConsumerGroupState
from kcli.client.types import NewPartitions, NewTopic
from kcli.local.admin_client import (
    BrokerMetadata,
    ClusterMetadata,
    ConsumerGroupDescription,
    ConsumerGroupListing,
    ConsumerGroupTopicPartitions,
    ListConsumerGroupsResult,
    MemberAssignment,
    MemberDescription,
    PartitionMetadata,
    TopicMetadata,
)

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
