"""The cluster metadata: its records, the log that holds them, and the image they build.

Kafka's KRaft controllers keep the cluster's metadata as a log of records (the
``__cluster_metadata`` topic); brokers replay it into a *metadata image* and act on what
changed.  kcli keeps the same records under the same names and fields
(``RegisterBrokerRecord``, ``FenceBrokerRecord``, ``UnfenceBrokerRecord``,
``BrokerRegistrationChangeRecord``, ``TopicRecord``, ``ConfigRecord``, ``PartitionRecord``,
``PartitionChangeRecord``, ``RemoveTopicRecord``, ``ProducerIdsRecord``), one JSON object per
line in
``<data-dir>/cluster/controller/metadata.log``, appended and fsynced before anyone is told.
JSON lines rather than a binary topic log: the metadata is small, and a learner can read the
cluster's history with ``cat`` or ``jq``.  A torn last line (a controller killed mid-write) is
dropped when the log is opened; damage anywhere else is an error.

As in Kafka, epochs are not written but follow from the records: a broker's epoch is the offset
of its RegisterBrokerRecord; a PartitionChangeRecord that names a new leader bumps the leader
epoch; every PartitionChangeRecord bumps the partition epoch.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

# PartitionRecord.leader when no replica can lead (Kafka's NO_LEADER).
NO_LEADER = -1


@dataclass
class BrokerRegistration:
    """A broker as the metadata knows it."""

    broker_id: int
    epoch: int
    host: str
    port: int
    fenced: bool = True
    in_controlled_shutdown: bool = False
    incarnation_id: str | None = None


@dataclass
class PartitionState:
    """One partition's replicas, in-sync replicas and leader, with their epochs."""

    topic: str
    partition: int
    replicas: list[int]
    isr: list[int]
    leader: int
    leader_epoch: int = 0
    partition_epoch: int = 0

    def to_json(self) -> dict:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "leader": self.leader,
            "leader_epoch": self.leader_epoch,
            "partition_epoch": self.partition_epoch,
            "replicas": list(self.replicas),
            "isr": list(self.isr),
        }


@dataclass
class TopicImage:
    name: str
    topic_id: str
    partitions: dict[int, PartitionState] = field(default_factory=dict)
    configs: dict[str, str] = field(default_factory=dict)


class MetadataImage:
    """The state the records up to ``offset`` describe.  Controller and brokers share it."""

    def __init__(self) -> None:
        self.offset = -1
        self.brokers: dict[int, BrokerRegistration] = {}
        self.topics: dict[str, TopicImage] = {}
        self._names: dict[str, str] = {}  # topic id -> name
        self.next_producer_id = 0

    def partition(self, topic: str, partition: int) -> PartitionState | None:
        t = self.topics.get(topic)
        return None if t is None else t.partitions.get(partition)

    def partitions(self):
        for t in self.topics.values():
            yield from t.partitions.values()

    def live_brokers(self) -> list[BrokerRegistration]:
        return [b for _, b in sorted(self.brokers.items()) if not b.fenced]

    def apply(self, offset: int, record: dict) -> PartitionState | None:
        """Apply one record; returns the partition it created or changed, if any."""
        self.offset = offset
        kind = record["type"]
        if kind == "RegisterBrokerRecord":
            self.brokers[record["brokerId"]] = BrokerRegistration(
                record["brokerId"],
                offset,
                record["host"],
                record["port"],
                fenced=True,
                incarnation_id=record.get("incarnationId"),
            )
        elif kind in ("FenceBrokerRecord", "UnfenceBrokerRecord"):
            broker = self.brokers[record["id"]]
            broker.fenced = kind == "FenceBrokerRecord"
            if broker.fenced:
                broker.in_controlled_shutdown = False
        elif kind == "BrokerRegistrationChangeRecord":
            broker = self.brokers[record["brokerId"]]
            if "fenced" in record:
                broker.fenced = record["fenced"]
            if "inControlledShutdown" in record:
                broker.in_controlled_shutdown = record["inControlledShutdown"]
        elif kind == "TopicRecord":
            self.topics[record["name"]] = TopicImage(record["name"], record["topicId"])
            self._names[record["topicId"]] = record["name"]
        elif kind == "ConfigRecord":
            topic = self.topics.get(record["resourceName"])
            if topic is not None:
                topic.configs[record["name"]] = record["value"]
        elif kind == "ProducerIdsRecord":
            self.next_producer_id = record["nextProducerId"]
        elif kind == "RemoveTopicRecord":
            name = self._names.pop(record["topicId"], None)
            self.topics.pop(name, None)
        elif kind == "PartitionRecord":
            name = self._names[record["topicId"]]
            state = PartitionState(
                name,
                record["partitionId"],
                list(record["replicas"]),
                list(record["isr"]),
                record["leader"],
                record.get("leaderEpoch", 0),
                record.get("partitionEpoch", 0),
            )
            self.topics[name].partitions[state.partition] = state
            return state
        elif kind == "PartitionChangeRecord":
            state = self.topics[self._names[record["topicId"]]].partitions[record["partitionId"]]
            if "isr" in record:
                state.isr = list(record["isr"])
            if "replicas" in record:
                state.replicas = list(record["replicas"])
            if "leader" in record and record["leader"] != state.leader:
                state.leader = record["leader"]
                state.leader_epoch += 1
            state.partition_epoch += 1
            return state
        else:
            raise ValueError(f"unknown metadata record type {kind!r}")
        return None

    def to_json(self) -> dict:
        return {
            "offset": self.offset,
            "brokers": [
                {
                    "id": b.broker_id,
                    "epoch": b.epoch,
                    "host": b.host,
                    "port": b.port,
                    "fenced": b.fenced,
                    "in_controlled_shutdown": b.in_controlled_shutdown,
                    "incarnation_id": b.incarnation_id,
                }
                for _, b in sorted(self.brokers.items())
            ],
            "partitions": [
                p.to_json()
                for t in sorted(self.topics)
                for _, p in sorted(self.topics[t].partitions.items())
            ],
        }


class MetadataLog:
    """The controller's append-only, fsynced log of metadata records (JSON lines)."""

    def __init__(self, path: Path):
        self.path = path
        self.records: list[dict] = []
        self._load()
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 (held open for appends)

    def _load(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        lines = data.split(b"\n")
        complete, tail = lines[:-1], lines[-1]
        for number, line in enumerate(complete, start=1):
            try:
                record = json.loads(line)
            except ValueError:
                raise ValueError(
                    f"{self.path} line {number} is not a metadata record: {line[:60]!r}"
                ) from None
            self.records.append(record)
        if tail:
            # A torn write: the controller died before the record was acknowledged.
            with open(self.path, "r+b") as f:
                f.truncate(len(data) - len(tail))
                os.fsync(f.fileno())

    @property
    def end_offset(self) -> int:
        return len(self.records)

    def append(self, records: list[dict]) -> int:
        """Append and fsync; returns the offset of the first record."""
        first = len(self.records)
        text = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
        self._file.write(text)
        self._file.flush()
        os.fsync(self._file.fileno())
        self.records.extend(records)
        return first

    def read(self, offset: int) -> list[dict]:
        return self.records[offset:]

    def close(self) -> None:
        self._file.close()
