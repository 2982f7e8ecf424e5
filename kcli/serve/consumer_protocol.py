"""The consumer protocol: what consumers put in JoinGroup metadata and SyncGroup assignments.

The coordinator treats both as opaque bytes, as Kafka's does; they are decoded only to show
a group's subscriptions and assignments (``kcli group describe``), and encoded to describe
groups of kcli processes to Kafka admin clients.
"""

from __future__ import annotations

from kafka.protocol.consumer.metadata import (
    ConsumerProtocolAssignment,
    ConsumerProtocolSubscription,
)

CONSUMER_PROTOCOL_TYPE = "consumer"


def decode_subscription(metadata: bytes | None) -> tuple[str, ...]:
    """Topics a member subscribes to; () when the bytes are not a consumer subscription."""
    if not metadata:
        return ()
    try:
        subscription = ConsumerProtocolSubscription.decode(bytes(metadata))
        return tuple(sorted(subscription.topics or ()))
    except Exception:  # another protocol type's bytes, or a newer layout: show nothing
        return ()


def decode_assignment(assignment: bytes | None) -> tuple[tuple[str, int], ...]:
    """(topic, partition) pairs assigned to a member, sorted; () when not decodable."""
    if not assignment:
        return ()
    try:
        decoded = ConsumerProtocolAssignment.decode(bytes(assignment))
        return tuple(
            sorted((tp.topic, p) for tp in decoded.assigned_partitions or () for p in tp.partitions)
        )
    except Exception:
        return ()


def encode_subscription(topics: tuple[str, ...]) -> bytes:
    return ConsumerProtocolSubscription(version=0, topics=list(topics), user_data=None).encode()


def partitions_by_topic(partitions) -> dict[str, list[int]]:
    """{topic: sorted partitions} of (topic, partition) pairs, topics in name order."""
    by_topic: dict[str, list[int]] = {}
    for topic, partition in sorted(partitions):
        by_topic.setdefault(topic, []).append(partition)
    return by_topic


def format_partitions(partitions) -> str:
    """(topic, partition) pairs as a log line shows them: ``orders[0,1], audit[2]``."""
    if not partitions:
        return "(nothing)"
    return ", ".join(
        f"{t}[{','.join(map(str, ps))}]" for t, ps in partitions_by_topic(partitions).items()
    )


def encode_assignment(assignment: tuple[tuple[str, int], ...]) -> bytes:
    by_topic = partitions_by_topic(assignment)
    entry = ConsumerProtocolAssignment.TopicPartition
    return ConsumerProtocolAssignment(
        version=0,
        assigned_partitions=[entry(topic=t, partitions=ps) for t, ps in sorted(by_topic.items())],
        user_data=None,
    ).encode()
