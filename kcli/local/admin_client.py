"""AdminClient: topics and consumer groups, with confluent-kafka's methods and result types.

As in confluent-kafka, the methods that change or describe something return futures
(``concurrent.futures.Future``), one per topic or group, whose ``result()`` gives the value
or raises ``KafkaException``.  kcli does the work while the call runs, so the futures come
back already done; waiting on them costs nothing and the same code runs against a cluster.
"""

from __future__ import annotations

import concurrent.futures
import socket
from collections.abc import Callable
from typing import Any

from kcli.client.config import check_keys, data_dir_of
from kcli.client.error_codes import kafka_error_code
from kcli.client.group_states import ConsumerGroupState, ConsumerGroupType
from kcli.client.types import (
    OFFSET_INVALID,
    KafkaError,
    KafkaException,
    NewPartitions,
    NewTopic,
    TopicPartition,
)
from storage import Store
from storage.errors import StorageError
from storage.groups import GroupStore, OffsetAndMetadata

ADMIN_KEYS = frozenset({"data.dir", "client.id"})
# The one "broker" a kcli store stands for, as list_topics() reports it.
BROKER_ID = 0


class Node:
    """A broker (confluent-kafka's ``Node``); a kcli store is one node, id 0."""

    def __init__(self, id: int, host: str, port: int, rack: str | None = None):
        self.id = id
        self.id_string = str(id)
        self.host = host
        self.port = port
        self.rack = rack

    def __str__(self) -> str:
        return f"({self.id}) {self.host}:{self.port}"


class BrokerMetadata:
    """A broker in ``ClusterMetadata.brokers``."""

    def __init__(self, id: int = -1, host: str | None = None, port: int = -1):
        self.id = id
        self.host = host
        self.port = port

    def __repr__(self) -> str:
        return f"BrokerMetadata({self.id}, {self.host}:{self.port})"


class PartitionMetadata:
    """A partition in ``TopicMetadata.partitions``: id, leader, replicas, in-sync replicas."""

    def __init__(self, id: int = -1):
        self.id = id
        self.leader = BROKER_ID
        self.replicas = [BROKER_ID]
        self.isrs = [BROKER_ID]
        self.error: KafkaError | None = None

    def __repr__(self) -> str:
        return f"PartitionMetadata({self.id})"


class TopicMetadata:
    """A topic in ``ClusterMetadata.topics``: its partitions by id."""

    def __init__(self, topic: str | None = None):
        self.topic = topic
        self.partitions: dict[int, PartitionMetadata] = {}
        self.error: KafkaError | None = None

    def __repr__(self) -> str:
        if self.error is not None:
            return f"TopicMetadata({self.topic}, {len(self.partitions)} partitions, {self.error})"
        return f"TopicMetadata({self.topic}, {len(self.partitions)} partitions)"

    def __str__(self) -> str:
        return str(self.topic)


class ClusterMetadata:
    """What ``list_topics()`` returns: cluster id, brokers and topics."""

    def __init__(self):
        self.cluster_id: str | None = None
        self.controller_id = BROKER_ID
        self.brokers: dict[int, BrokerMetadata] = {}
        self.topics: dict[str, TopicMetadata] = {}
        self.orig_broker_id = BROKER_ID
        self.orig_broker_name: str | None = None

    def __repr__(self) -> str:
        return f"ClusterMetadata({self.cluster_id})"


class ConsumerGroupListing:
    """One group in ``ListConsumerGroupsResult.valid``."""

    def __init__(self, group_id: str, is_simple_consumer_group: bool, state=None, type=None):
        self.group_id = group_id
        self.is_simple_consumer_group = is_simple_consumer_group
        self.state = state
        self.type = type

    def __repr__(self) -> str:
        return f"ConsumerGroupListing({self.group_id}, {self.state})"


class ListConsumerGroupsResult:
    """What ``list_consumer_groups().result()`` returns."""

    def __init__(self, valid=None, errors=None):
        self.valid = valid if valid is not None else []
        self.errors = errors if errors is not None else []


class MemberAssignment:
    """The partitions of one member."""

    def __init__(self, topic_partitions=None):
        self.topic_partitions = topic_partitions or []


class MemberDescription:
    """One member in ``ConsumerGroupDescription.members``."""

    def __init__(
        self, member_id, client_id, host, assignment, group_instance_id=None, target_assignment=None
    ):
        self.member_id = member_id
        self.client_id = client_id
        self.host = host
        self.assignment = assignment
        self.group_instance_id = group_instance_id
        self.target_assignment = target_assignment

    def __repr__(self) -> str:
        return f"MemberDescription({self.member_id}, {self.client_id}, {self.host})"


class ConsumerGroupDescription:
    """What each ``describe_consumer_groups()`` future returns."""

    def __init__(
        self,
        group_id,
        is_simple_consumer_group,
        members,
        partition_assignor,
        state,
        coordinator,
        authorized_operations=None,
        type=ConsumerGroupType.CLASSIC,
    ):
        self.group_id = group_id
        self.is_simple_consumer_group = is_simple_consumer_group
        self.members = members
        self.partition_assignor = partition_assignor
        self.state = state
        self.coordinator = coordinator
        self.authorized_operations = authorized_operations
        self.type = type

    def __repr__(self) -> str:
        return (
            f"ConsumerGroupDescription({self.group_id}, {self.state}, {len(self.members)} members)"
        )


class ConsumerGroupTopicPartitions:
    """A group and some of its partitions (requests and results of the offset methods)."""

    def __init__(self, group_id: str, topic_partitions: list[TopicPartition] | None = None):
        self.group_id = group_id
        self.topic_partitions = topic_partitions

    def __repr__(self) -> str:
        return f"ConsumerGroupTopicPartitions({self.group_id}, {self.topic_partitions})"


def _done(fn: Callable[[], Any]) -> concurrent.futures.Future:
    """A future already holding ``fn()``'s result, or its error as a KafkaException."""
    future: concurrent.futures.Future = concurrent.futures.Future()
    try:
        future.set_result(fn())
    except KafkaException as exc:
        future.set_exception(exc)
    except Exception as exc:
        if not isinstance(exc, StorageError):
            raise
        future.set_exception(KafkaException(KafkaError(_error_code(exc), str(exc))))
    return future


def _error_code(exc: Exception) -> int:
    return kafka_error_code(exc, default=KafkaError._STATE)


def _check_list(value, name: str) -> None:
    if not isinstance(value, list):
        raise TypeError(f"Expected {name} to be a list")
    if not value:
        raise ValueError(f"Expected at least one element in {name}")


class AdminClient:
    """Create, delete and describe topics; list, describe, reset and delete consumer groups
    (confluent-kafka's ``AdminClient`` over a kcli store)."""

    def __init__(self, conf: dict | None = None, **kwargs):
        conf = dict(conf or {})
        conf.update(kwargs)
        check_keys(conf, ADMIN_KEYS, "admin")
        self._conf = conf
        self._store = Store(data_dir_of(conf))
        self._groups = GroupStore(self._store)

    # -- topics -----------------------------------------------------------------------------

    def create_topics(
        self,
        new_topics: list[NewTopic],
        operation_timeout: float = 0,
        request_timeout: float | None = None,
        validate_only: bool = False,
    ):
        """Create topics; returns {topic: future} (result None)."""
        _check_list(new_topics, "new_topics")

        def create(nt: NewTopic) -> None:
            if nt.replication_factor not in (-1, 1):
                raise KafkaException(
                    KafkaError(
                        KafkaError.INVALID_REPLICATION_FACTOR,
                        f"Replication factor: {nt.replication_factor} larger than available "
                        f"brokers: 1 (a kcli store keeps one copy of each partition)",
                    )
                )
            partitions = 1 if nt.num_partitions in (-1, None) else nt.num_partitions
            self._store.create_topic(nt.topic, partitions, nt.config, validate_only=validate_only)
            return None

        return {nt.topic: _done(lambda nt=nt: create(nt)) for nt in new_topics}

    def delete_topics(
        self, topics: list[str], operation_timeout: float = 0, request_timeout: float | None = None
    ):
        """Delete topics and their data; returns {topic: future} (result None)."""
        _check_list(topics, "topics")
        return {t: _done(lambda t=t: self._store.delete_topic(t)) for t in topics}

    def create_partitions(
        self,
        new_partitions: list[NewPartitions],
        operation_timeout: float = 0,
        request_timeout: float | None = None,
        validate_only: bool = False,
    ):
        """Grow topics to ``new_total_count`` partitions; returns {topic: future}."""
        _check_list(new_partitions, "new_partitions")

        def grow(np: NewPartitions) -> None:
            meta = self._store.topic(np.topic)
            if np.new_total_count <= meta.partitions:
                raise KafkaException(
                    KafkaError(
                        KafkaError.INVALID_PARTITIONS,
                        f"Topic currently has {meta.partitions} partitions, which is higher "
                        f"than or equal to the requested {np.new_total_count}.",
                    )
                )
            if not validate_only:
                self._store.alter_topic(np.topic, partitions=np.new_total_count)

        return {np.topic: _done(lambda np=np: grow(np)) for np in new_partitions}

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> ClusterMetadata:
        """Cluster metadata: the store's one broker and its topics (or just ``topic``)."""
        md = ClusterMetadata()
        md.cluster_id = self._store.cluster_id
        host = socket.gethostname()
        md.brokers[BROKER_ID] = BrokerMetadata(BROKER_ID, host, -1)
        md.orig_broker_name = f"{host}/{BROKER_ID}"
        metas = self._store.topics()
        if topic is not None:
            metas = [m for m in metas if m.name == topic]
            if not metas:
                tm = TopicMetadata(topic)
                tm.error = KafkaError(
                    KafkaError.UNKNOWN_TOPIC_OR_PART, "Broker: Unknown topic or partition"
                )
                md.topics[topic] = tm
        for meta in metas:
            tm = TopicMetadata(meta.name)
            for p in range(meta.partitions):
                tm.partitions[p] = PartitionMetadata(p)
            md.topics[meta.name] = tm
        return md

    # -- consumer groups ------------------------------------------------------------------

    def list_consumer_groups(self, request_timeout: float | None = None, states=None, types=None):
        """A future of ListConsumerGroupsResult (optionally only groups in ``states``)."""
        if states is not None and not isinstance(states, set):
            raise TypeError("'states' must be a set")

        def run() -> ListConsumerGroupsResult:
            valid = []
            for g in self._groups.list_groups():
                state = ConsumerGroupState.of(g.state)
                if states and state not in states:
                    continue
                valid.append(
                    ConsumerGroupListing(
                        g.group, g.members == 0 and not g.assignor, state, ConsumerGroupType.CLASSIC
                    )
                )
            return ListConsumerGroupsResult(valid=valid, errors=[])

        return _done(run)

    def describe_consumer_groups(
        self,
        group_ids: list[str],
        include_authorized_operations=False,
        request_timeout: float | None = None,
    ):
        """{group: future of ConsumerGroupDescription}."""
        _check_list(group_ids, "group_ids")
        coordinator = Node(BROKER_ID, socket.gethostname(), -1)

        def describe(group: str) -> ConsumerGroupDescription:
            d = self._groups.describe_group(group)
            members = [
                MemberDescription(
                    m.member_id,
                    m.client_id,
                    m.host,
                    MemberAssignment([TopicPartition(t, p) for t, p in m.assignment]),
                )
                for m in d.members
            ]
            return ConsumerGroupDescription(
                group_id=group,
                is_simple_consumer_group=not d.members and not d.assignor,
                members=members,
                partition_assignor=d.assignor,
                state=ConsumerGroupState.of(d.state),
                coordinator=coordinator,
            )

        return {g: _done(lambda g=g: describe(g)) for g in group_ids}

    def delete_consumer_groups(self, group_ids: list[str], request_timeout: float | None = None):
        """{group: future}; a group with live members cannot be deleted (NON_EMPTY_GROUP)."""
        _check_list(group_ids, "group_ids")
        return {g: _done(lambda g=g: self._groups.delete_group(g)) for g in group_ids}

    def list_consumer_group_offsets(
        self,
        list_consumer_group_offsets_request,
        require_stable: bool = False,
        request_timeout: float | None = None,
    ):
        """{group: future of ConsumerGroupTopicPartitions} with the committed offsets
        (OFFSET_INVALID where the group has none)."""
        request = _single_group_request(list_consumer_group_offsets_request, "listing")

        def run() -> ConsumerGroupTopicPartitions:
            committed = self._groups.fetch_offsets(request.group_id)
            if request.topic_partitions is None:
                keys = sorted(committed)
            else:
                keys = [(tp.topic, tp.partition) for tp in request.topic_partitions]
            out = []
            for t, p in keys:
                c = committed.get((t, p))
                tp = TopicPartition(
                    t, p, c.offset if c else OFFSET_INVALID, metadata=c.metadata if c else None
                )
                out.append(tp)
            return ConsumerGroupTopicPartitions(request.group_id, out)

        return {request.group_id: _done(run)}

    def alter_consumer_group_offsets(
        self, alter_consumer_group_offsets_request, request_timeout: float | None = None
    ):
        """{group: future of ConsumerGroupTopicPartitions}: set committed offsets, which Kafka
        allows only while the group has no live members."""
        request = _single_group_request(alter_consumer_group_offsets_request, "altering")
        if not request.topic_partitions:
            raise ValueError("'topic_partitions' cannot be empty")
        for tp in request.topic_partitions:
            if tp.offset < 0:
                raise ValueError(
                    "Element of 'topic_partitions' must not have negative value for 'offset' field"
                )

        def run() -> ConsumerGroupTopicPartitions:
            offsets = {
                (tp.topic, tp.partition): OffsetAndMetadata(tp.offset, tp.metadata or "")
                for tp in request.topic_partitions
            }
            self._groups.commit_offsets(request.group_id, offsets)
            return ConsumerGroupTopicPartitions(
                request.group_id,
                [
                    TopicPartition(tp.topic, tp.partition, tp.offset)
                    for tp in request.topic_partitions
                ],
            )

        return {request.group_id: _done(run)}


def _single_group_request(request, verb: str) -> ConsumerGroupTopicPartitions:
    if not isinstance(request, list):
        raise TypeError("request must be a list")
    if len(request) != 1:
        raise ValueError(f"Currently we support {verb} offsets for a single consumer group only")
    req = request[0]
    if not isinstance(req, ConsumerGroupTopicPartitions):
        raise TypeError("Expected list of 'ConsumerGroupTopicPartitions'")
    if not isinstance(req.group_id, str) or not req.group_id:
        raise ValueError("'group_id' cannot be empty")
    return req
