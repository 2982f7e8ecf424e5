"""fsyncs shared by the produce requests of a partition (group commit).

A cluster leader writes a produce request's records without an fsync and fsyncs them before
it answers (see ``ProduceHandlers._replicated`` in ``kcli.serve.produce``).  Requests
arriving while a partition's fsync runs wait for the next one, which starts when it ends and
covers them all: a partition holds at most one I/O thread in an fsync, however many requests
wait, so the thread pool stays free for the followers' fetches that acks=all waits for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

TopicPartition = tuple[str, int]


class _Partition:
    __slots__ = ("next", "running")

    def __init__(self):
        self.running: asyncio.Task | None = None
        self.next: asyncio.Future | None = None  # the fsync that starts after the running one


class Flushes:
    """Runs ``flush(topic, partition)`` (blocking) through ``run``, one at a time per
    partition, each serving every request made before it started."""

    def __init__(self, run: Callable[..., Awaitable], flush: Callable[[str, int], None]):
        self._run = run
        self._flush = flush
        self._partitions: dict[TopicPartition, _Partition] = {}

    async def flush(self, topic: str, partition: int) -> None:
        """Return once everything written to the partition before this call is durable."""
        state = self._partitions.setdefault((topic, partition), _Partition())
        if state.next is None:
            state.next = asyncio.get_running_loop().create_future()
        done = state.next
        if state.running is None:
            self._start((topic, partition), state)
        await asyncio.shield(done)

    def _start(self, tp: TopicPartition, state: _Partition) -> None:
        done, state.next = state.next, None
        state.running = asyncio.get_running_loop().create_task(self._fsync(tp, state, done))

    async def _fsync(self, tp: TopicPartition, state: _Partition, done: asyncio.Future):
        try:
            await self._run(self._flush, *tp)
        except Exception as exc:
            done.set_exception(exc)
        else:
            done.set_result(None)
        finally:
            state.running = None
            if state.next is not None:
                self._start(tp, state)
            else:
                self._partitions.pop(tp, None)
