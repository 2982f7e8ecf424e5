"""The topics a group coordinator assigns: their names, topic ids and partition counts.

Consumer-protocol groups (KIP-848) are assigned by the broker, in topic ids, so the coordinator
must know topics as clients see them in Metadata.  On ``kcli serve`` that is the store; on a
broker of ``kcli cluster`` it is the controller's metadata (the replica manager's image),
whose topic ids and partition counts are the cluster's, whatever replicas this broker holds.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from kcli.serve.partitions import topic_uuid
from kcli.serve.replication import Replication
from storage import Store


class TopicCatalog:
    """Topics by name and id, and their partition counts."""

    def __init__(self, store: Store, *, run: Callable, replication: Replication | None = None):
        self.store = store
        self.run = run  # run(fn, *args) -> awaitable result of fn in the thread pool
        self.replication = replication  # read in the event loop, as its handlers do

    async def partition_counts(self) -> dict[str, int]:
        """{topic: partition count} of every topic."""
        rep = self.replication
        if rep is None:
            return await self.run(lambda: {m.name: m.partitions for m in self.store.topics()})
        return {n: len(rep.topic_metadata(n) or ()) for n in rep.topic_names()}

    async def ids(self, names: set[str]) -> dict[str, uuid.UUID]:
        """{topic: topic id} of those of ``names`` that exist."""
        return {n: i for n, i in (await self._all_ids()).items() if n in names}

    async def names(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
        """{topic id: topic} of those of ``ids`` that exist."""
        wanted = set(ids)
        return {i: n for n, i in (await self._all_ids()).items() if i in wanted}

    async def _all_ids(self) -> dict[str, uuid.UUID]:
        rep = self.replication
        if rep is None:
            return await self.run(
                lambda: {m.name: topic_uuid(m.topic_id) for m in self.store.topics()}
            )
        ids = {n: rep.topic_id(n) for n in rep.topic_names()}
        return {n: topic_uuid(i) for n, i in ids.items() if i}
