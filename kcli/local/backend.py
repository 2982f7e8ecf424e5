"""The local store as a backend for the CLI: a data directory, kcli.local's Producer and Consumer."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kcli.client.backend import Backend, BackendInfo, TopicInfo
from storage import Store, TopicDescription, validate_topic_name

# Start-up: a command uses one of the producer, the consumer and the group store, so each is
# imported when first asked for (a one-record `kcli produce` loads only the producer).


class LocalBackend(Backend):
    """Topics, records and groups in a kcli data directory (see storage.Store)."""

    kind = "local"

    def __init__(self, data_dir: str | os.PathLike):
        self.data_dir = Path(data_dir)
        self._store = None
        self._groups = None

    @property
    def store(self):
        """The storage.Store (opened on first use: creating a backend touches no files)."""
        if self._store is None:
            self._store = Store(self.data_dir)
        return self._store

    # -- topics -------------------------------------------------------------------------

    def topics(self) -> list[TopicInfo]:
        return [TopicInfo(m.name, m.partitions, m.topic_id) for m in self.store.topics()]

    def topic(self, name: str) -> TopicInfo:
        meta = self.store.topic(name)
        return TopicInfo(meta.name, meta.partitions, meta.topic_id)

    def topic_exists(self, name: str) -> bool:
        validate_topic_name(name)  # a name like ../x must never become a path
        return self.store.topic_exists(name)

    def _create_topic(
        self, name: str, partitions: int, config: dict, if_not_exists: bool, replication_factor: int
    ) -> TopicInfo:
        if replication_factor not in (-1, 1):
            from kcli.errors import KcliError

            raise KcliError(
                f"--replication-factor {replication_factor} is impossible on the local store, "
                f"which keeps one copy of each partition; use 1, or a cluster (kcli cluster "
                f"start, then kcli --profile cluster topic create ...)"
            )
        meta = self.store.create_topic(name, partitions, config, if_not_exists=if_not_exists)
        return TopicInfo(meta.name, meta.partitions, meta.topic_id)

    def _alter_topic(self, name: str, partitions: int | None, config: dict | None) -> TopicInfo:
        meta = self.store.alter_topic(name, partitions=partitions, config=config)
        return TopicInfo(meta.name, meta.partitions, meta.topic_id)

    def delete_topic(self, name: str) -> None:
        self.store.delete_topic(name)

    def describe_topic(self, name: str) -> TopicDescription:
        return self.store.describe_topic(name)

    def max_message_bytes(self, name: str) -> int:
        return self.store.topic(name).config.max_message_bytes

    def compact_topic(self, name: str, partition: int | None = None) -> list:
        return self.store.compact_topic(name, partition)

    def segments(self, name: str) -> dict[int, list]:
        meta = self.store.topic(name)
        return {p: self.store.log(name, p).segments() for p in range(meta.partitions)}

    # -- records ------------------------------------------------------------------------

    def producer(self, conf: Mapping[str, Any] | None = None):
        from kcli.local.producer import Producer

        return Producer({**(conf or {}), "data.dir": str(self.data_dir)})

    def consumer(self, conf: Mapping[str, Any] | None = None):
        from kcli.local.consumer import Consumer

        return Consumer({**(conf or {}), "data.dir": str(self.data_dir)})

    # -- groups and the rest ------------------------------------------------------------

    def groups(self):
        if self._groups is None:
            from storage.groups import GroupStore

            self._groups = GroupStore(self.store)
        return self._groups

    def info(self) -> BackendInfo:
        i = self.store.info()
        return BackendInfo(
            kind=self.kind,
            location=str(i.data_dir),
            cluster_id=i.cluster_id,
            topics=i.topics,
            partitions=i.partitions,
            size_bytes=i.size_bytes,
            details={"data_dir": str(i.data_dir)},
        )

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
