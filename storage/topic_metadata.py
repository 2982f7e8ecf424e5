"""A topic as the store records and describes it: its metadata, the descriptions
``describe_topic`` returns, and the rules a topic's name and partition count follow.

Values only (frozen dataclasses): the client layer and renderers import them without
loading the log engine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from storage.constants import TOPIC_NAME_MAX_LENGTH
from storage.errors import DamagedTopicFile, InvalidPartitions, InvalidTopicName
from storage.topic_config import TopicConfig, validate_config

if TYPE_CHECKING:
    from storage.cleaner import CleanableSection

__all__ = [
    "MAX_PARTITIONS",
    "PartitionDescription",
    "StoreInfo",
    "TopicDescription",
    "TopicMetadata",
    "check_partition_count",
    "topic_metadata_from",
    "validate_topic_name",
]

_LEGAL = re.compile(r"^[a-zA-Z0-9._-]+$")
MAX_PARTITIONS = 10_000


def validate_topic_name(name: str) -> None:
    """Kafka's topic naming rules; they also keep every path inside the data directory."""
    if not name:
        raise InvalidTopicName("topic name is empty; use 1-249 characters of a-z A-Z 0-9 . _ -")
    if name in (".", ".."):
        raise InvalidTopicName(f"topic name '{name}' is not allowed ('.' and '..' are reserved)")
    if len(name) > TOPIC_NAME_MAX_LENGTH:
        raise InvalidTopicName(
            f"topic name is {len(name)} characters long; the maximum is {TOPIC_NAME_MAX_LENGTH} "
            f"(use 1-{TOPIC_NAME_MAX_LENGTH} characters of a-z A-Z 0-9 . _ -)"
        )
    if not _LEGAL.match(name):
        bad = sorted({c for c in name if not _LEGAL.match(c)})
        shown = " ".join(repr(c) for c in bad)
        raise InvalidTopicName(f"topic name '{name}' contains {shown}; use only a-z A-Z 0-9 . _ -")


@dataclass(frozen=True)
class TopicMetadata:
    """A topic as the store records it."""

    name: str
    topic_id: str
    partitions: int
    overrides: dict[str, int | str] = field(default_factory=dict)

    @property
    def config(self) -> TopicConfig:
        return validate_config(dict(self.overrides))


@dataclass(frozen=True)
class PartitionDescription:
    """One partition's offsets; its size and segment count where they can be seen (a
    cluster's admin API does not expose segments: None there).  On a cluster the offsets are
    None where the partition's leader did not answer."""

    partition: int
    log_start_offset: int | None
    log_end_offset: int | None
    size_bytes: int | None
    segments: int | None
    compaction: CleanableSection | None = None  # a compacted topic's clean and dirty sections
    # A cluster's view (None in a store): the leader's node id (-1: none), the replicas and
    # the in-sync replicas, as kafka-topics --describe shows them.
    leader: int | None = None
    replicas: tuple[int, ...] | None = None
    isr: tuple[int, ...] | None = None


@dataclass(frozen=True)
class TopicDescription:
    """A topic with its partitions and every config's effective value (``overrides``: the
    ones set for this topic)."""

    topic: str
    topic_id: str
    partitions: tuple[PartitionDescription, ...]
    config: dict[str, int | str]
    overrides: dict[str, int | str]


@dataclass(frozen=True)
class StoreInfo:
    """What ``kcli info`` shows of a data directory."""

    data_dir: Path
    cluster_id: str
    topics: int
    partitions: int
    size_bytes: int


def topic_metadata_from(path: Path, name: str, raw) -> TopicMetadata:
    """A topic file's contents, checked for the shape the store writes."""
    ok = (
        isinstance(raw, dict)
        and raw.get("topic") == name
        and isinstance(raw.get("topic_id"), str)
        and isinstance(raw.get("partitions"), int)
        and not isinstance(raw.get("partitions"), bool)
        and 1 <= raw["partitions"] <= MAX_PARTITIONS
        and isinstance(raw.get("config"), dict)
    )
    if not ok:
        raise DamagedTopicFile(
            f'{path} is damaged: it should be a JSON object with "topic": "{name}", a '
            f'"topic_id", "partitions" (1-{MAX_PARTITIONS}) and a "config" object '
            f"(restore it, or remove the file to drop the topic)"
        )
    return TopicMetadata(raw["topic"], raw["topic_id"], raw["partitions"], raw["config"])


def check_partition_count(partitions: int) -> None:
    if not isinstance(partitions, int) or isinstance(partitions, bool) or partitions < 1:
        raise InvalidPartitions(
            f"partition count must be a whole number from 1 to {MAX_PARTITIONS}; got {partitions}"
        )
    if partitions > MAX_PARTITIONS:
        raise InvalidPartitions(
            f"partition count {partitions} is too large for kcli; use 1 to {MAX_PARTITIONS}"
        )
