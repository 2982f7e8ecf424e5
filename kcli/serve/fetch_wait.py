"""Waking long-polling Fetch requests when records arrive.

A Fetch that finds fewer than ``min_bytes`` waits up to ``max_wait_ms`` for more.  Appends made
through this server wake the waiting fetches of that partition at once.  Appends made by other
processes (``kcli produce``, a Python ``kcli.Producer``) leave no trace here, so while anyone
waits, one task polls the log end offsets of the partitions being waited on at a modest interval.
Nothing spins: with no waiting fetch, the poller sleeps.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

log = logging.getLogger("kcli.serve")

TopicPartition = tuple[str, int]
POLL_INTERVAL_S = 0.1


class _Waiter:
    __slots__ = ("future", "offsets")

    def __init__(self, future: asyncio.Future, offsets: Mapping[TopicPartition, int]):
        self.future = future
        self.offsets = offsets


class AppendWatcher:
    """Lets fetches wait for new records in any of their partitions."""

    def __init__(
        self,
        log_end_offsets: Callable[[list[TopicPartition]], Awaitable[dict[TopicPartition, int]]],
        poll_interval_s: float | None = POLL_INTERVAL_S,
    ):
        # log_end_offsets reads the store (in a worker thread); partitions that no longer exist
        # are left out of its answer.  poll_interval_s None: every append comes through this
        # process (a cluster broker), so appended() wakes every waiter and nothing polls.
        self._log_end_offsets = log_end_offsets
        self._poll_interval_s = poll_interval_s
        self._waiters: dict[TopicPartition, set[_Waiter]] = {}
        self._versions: dict[TopicPartition, int] = {}
        self._wake_poller = asyncio.Event()
        self._poller: asyncio.Task | None = None

    def start(self) -> None:
        if self._poll_interval_s is None:
            return
        self._poller = asyncio.get_running_loop().create_task(self._poll(), name="append-poller")

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            try:
                await self._poller
            except asyncio.CancelledError:
                pass
        self.wake_all()

    def version(self, tp: TopicPartition) -> int:
        """A counter that changes whenever this process appends to ``tp``."""
        return self._versions.get(tp, 0)

    def appended(self, tp: TopicPartition) -> None:
        """Records were appended to ``tp`` by this process: wake its waiters now."""
        self._versions[tp] = self._versions.get(tp, 0) + 1
        for waiter in list(self._waiters.get(tp, ())):
            if not waiter.future.done():
                waiter.future.set_result(None)

    def wake_all(self) -> None:
        for waiters in self._waiters.values():
            for waiter in waiters:
                if not waiter.future.done():
                    waiter.future.set_result(None)

    async def wait(
        self,
        offsets: Mapping[TopicPartition, int],
        versions: Mapping[TopicPartition, int],
        timeout_s: float,
    ) -> None:
        """Return when any partition in ``offsets`` may have grown past the offset given for it
        (the log end offset the caller's last read saw), or after ``timeout_s``.  ``versions``
        are the ``version()`` values seen before that read: an append since returns at once."""
        if any(self.version(tp) != v for tp, v in versions.items()):
            return
        waiter = _Waiter(asyncio.get_running_loop().create_future(), offsets)
        for tp in offsets:
            self._waiters.setdefault(tp, set()).add(waiter)
        self._wake_poller.set()
        try:
            await asyncio.wait_for(asyncio.shield(waiter.future), timeout_s)
        except TimeoutError:
            pass
        finally:
            for tp in offsets:
                waiters = self._waiters.get(tp)
                if waiters is not None:
                    waiters.discard(waiter)
                    if not waiters:
                        del self._waiters[tp]

    async def _poll(self) -> None:
        while True:
            if not self._waiters:
                self._wake_poller.clear()
                await self._wake_poller.wait()
            await asyncio.sleep(self._poll_interval_s)
            partitions = list(self._waiters)
            if not partitions:
                continue
            try:
                ends = await self._log_end_offsets(partitions)
            except Exception as exc:  # a topic deleted mid-poll: the fetch itself will say so
                log.debug("polling log end offsets failed: %s", exc)
                continue
            for tp in partitions:
                end = ends.get(tp)
                for waiter in list(self._waiters.get(tp, ())):
                    if waiter.future.done():
                        continue
                    # A vanished partition wakes its fetch too, so that it can report the error.
                    if end is None or end > waiter.offsets[tp]:
                        waiter.future.set_result(None)
