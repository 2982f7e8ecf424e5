"""What the broker's handlers share: the partitions, the configuration, the thread pool and the
cluster seam.

``BrokerContext`` is handed to each group of handlers (``metadata_handlers``, ``produce``,
``fetch``, ``log_dirs``) so that each reads the same broker without knowing the others.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from kcli.serve.config import BrokerConfig
from kcli.serve.fetch_wait import AppendWatcher
from kcli.serve.partitions import Partitions, topic_uuid
from kcli.serve.protocol import APIS, Api
from kcli.serve.replication import Replication
from kcli.serve.stats import ServerStats


@dataclass
class BrokerContext:
    """One broker's shared parts, as its handlers use them."""

    partitions: Partitions
    config: BrokerConfig
    run: Callable  # run(fn, *args) -> awaitable result of fn in the thread pool
    watcher: AppendWatcher
    stats: ServerStats
    address: Callable[[], tuple[str, int]]
    is_stopping: Callable[[], bool]
    cluster_id: str
    log_dir: str
    admin_lock: asyncio.Lock  # shared with TopicAdmin: auto-creation creates topics
    # A broker of kcli cluster: leadership, high watermarks and acks come from here.
    replication: Replication | None = None
    apis: dict[int, Api] = field(default_factory=lambda: APIS)  # what ApiVersions offers

    async def topic_names(self, by_topic_id: bool, topic_ids: list) -> dict[uuid.UUID, str]:
        """Topic names for the ids of a v13+ Produce or Fetch (empty before topic ids)."""
        if not by_topic_id:
            return {}
        if self.replication is not None:
            # A cluster's topic ids are the controller's (every broker's local copy of a
            # topic has its own).
            rep = self.replication
            wanted = set(topic_ids)
            ids = {n: rep.topic_id(n) for n in rep.topic_names()}
            return {topic_uuid(i): n for n, i in ids.items() if i and topic_uuid(i) in wanted}
        return await self.run(self.partitions.topic_names, topic_ids)
