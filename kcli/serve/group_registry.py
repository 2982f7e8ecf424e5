"""The groups a coordinator holds in memory, and what its parts share about them.

``GroupRegistry`` is the one object the coordinator's parts (membership, offsets, timers,
publisher, admin) are handed: the live ``Group`` records of classic groups and
``ConsumerGroup`` records of consumer-protocol groups (a group id is one or the other), the set of groups whose published
snapshot is out of date, the event that wakes the timers, and the store.  Each part reads and
changes the groups only through it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from kcli.serve.consumer_group_state import ConsumerGroup
from kcli.serve.group_state import Group
from kcli.serve.topic_catalog import TopicCatalog
from storage import Store


class GroupRegistry:
    """Live groups by id, and the shared means to publish and time them."""

    def __init__(self, store: Store, *, run: Callable, catalog: TopicCatalog):
        self.store = store
        self.run = run  # run(fn, *args) -> awaitable result of fn in the thread pool
        self.catalog = catalog  # the topics' ids and partition counts, as clients see them
        self.groups: dict[str, Group] = {}  # classic groups
        self.consumer_groups: dict[str, ConsumerGroup] = {}  # consumer-protocol groups (KIP-848)
        self.dirty: set[str] = set()  # groups whose published snapshot is out of date
        self.wake = asyncio.Event()  # set when a group has members or pending ids to time
        self.stopping = False
        self._group_store = None

    @property
    def group_store(self):
        """The store's ``GroupStore`` (imported on first use: ``kcli serve`` start-up)."""
        if self._group_store is None:
            from storage.groups import GroupStore

            self._group_store = GroupStore(self.store)
        return self._group_store

    def claim(self, group_id: str) -> int:
        """Take the group over in the store (in the thread pool); its generations, or a
        consumer group's epochs, continue where they stopped."""
        from storage.groups import GroupNotFound

        self.group_store.claim_external(group_id)
        try:
            return self.group_store.describe_group(group_id).generation
        except GroupNotFound:
            return 0

    @staticmethod
    def loop_time() -> float:
        return asyncio.get_running_loop().time()
