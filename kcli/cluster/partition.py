"""One replica a broker hosts (Kafka's ``Partition``): its role, its log end offset and high
watermark, and, while it leads, what it knows of each follower.

The rules are Kafka's:

* The high watermark is the smallest log end offset among the in-sync replicas (the leader's
  own included) and never moves back.  While an ISR change is waiting for the controller, the
  replicas being added already count ("maximal ISR"), so a replica never joins the ISR lacking
  records below the high watermark.
* A follower is caught up when it fetches from the leader's log end offset; if it fetches from
  the log end offset the leader had at its previous fetch, it was caught up then.  A follower
  not caught up for ``replica.lag.time.max.ms`` leaves the ISR; one that reaches the high
  watermark and the start of the current leader epoch joins it again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from kcli.cluster.metadata import PartitionState


@dataclass
class FollowerState:
    """What the leader knows of one follower."""

    log_end_offset: int = -1  # unknown until it fetches
    last_caught_up_ms: float = 0.0
    last_fetch_ms: float = 0.0
    last_fetch_leader_leo: int = -1


class Partition:
    """A hosted replica of ``topic``-``partition``."""

    def __init__(self, topic: str, partition: int, log, epochs, high_watermark: int):
        self.topic = topic
        self.partition = partition
        self.log = log
        self.epochs = epochs  # storage.leader_epoch.LeaderEpochCache
        self.log_end_offset = log.log_end_offset
        self.high_watermark = min(high_watermark, self.log_end_offset)
        self.state: PartitionState | None = None
        self.followers: dict[int, FollowerState] = {}
        self.pending_isr: list[int] | None = None
        self.leader_epoch_start_offset = 0
        self._acks_waiting: list[tuple[int, asyncio.Future]] = []

    @property
    def tp(self) -> tuple[str, int]:
        return self.topic, self.partition

    def is_leader(self, node_id: int) -> bool:
        return self.state is not None and self.state.leader == node_id

    @property
    def leader_epoch(self) -> int:
        return -1 if self.state is None else self.state.leader_epoch

    def maximal_isr(self) -> set[int]:
        isr = set(self.state.isr) if self.state is not None else set()
        if self.pending_isr is not None:
            isr |= set(self.pending_isr)
        return isr

    # -- becoming leader or follower ----------------------------------------------------

    def make_leader(self, state: PartitionState, node_id: int, now_ms: float) -> None:
        new_epoch = self.state is None or self.state.leader_epoch != state.leader_epoch
        was_leader = self.is_leader(node_id)
        self.state = state
        if new_epoch or not was_leader:
            # A new leader term: followers start unknown but in sync as of now, so that the
            # ISR is not shrunk before they had a chance to fetch.
            self.followers = {
                r: FollowerState(last_caught_up_ms=now_ms) for r in state.replicas if r != node_id
            }
            self.pending_isr = None
            self.leader_epoch_start_offset = self.log_end_offset
            self.epochs.assign(state.leader_epoch, self.log_end_offset)
        for r in state.replicas:
            if r != node_id and r not in self.followers:
                self.followers[r] = FollowerState(last_caught_up_ms=now_ms)

    def make_follower(self, state: PartitionState) -> None:
        self.state = state
        self.followers = {}
        self.pending_isr = None
        self.fail_waiting(6)  # NOT_LEADER_OR_FOLLOWER

    # -- the leader's bookkeeping ----------------------------------------------------------

    def follower_fetched(self, replica: int, fetch_offset: int, now_ms: float) -> None:
        fs = self.followers.get(replica)
        if fs is None:
            fs = self.followers[replica] = FollowerState()
        if fetch_offset >= self.log_end_offset:
            fs.last_caught_up_ms = now_ms
        elif fetch_offset >= fs.last_fetch_leader_leo >= 0:
            fs.last_caught_up_ms = max(fs.last_caught_up_ms, fs.last_fetch_ms)
        fs.log_end_offset = fetch_offset
        fs.last_fetch_ms = now_ms
        fs.last_fetch_leader_leo = self.log_end_offset

    def advance_high_watermark(self, node_id: int) -> bool:
        """Recompute the high watermark; True when it moved."""
        ends = [self.log_end_offset]
        for r in self.maximal_isr():
            if r != node_id:
                fs = self.followers.get(r)
                ends.append(fs.log_end_offset if fs is not None else -1)
        candidate = min(ends)
        if candidate > self.high_watermark:
            self.high_watermark = candidate
            self._complete_acks()
            return True
        return False

    def out_of_sync(self, node_id: int, now_ms: float, lag_ms: int) -> list[int]:
        """In-sync followers that have not been caught up for ``lag_ms``."""
        return [
            r
            for r in self.state.isr
            if r != node_id
            and now_ms - self.followers.get(r, FollowerState()).last_caught_up_ms > lag_ms
        ]

    def can_join_isr(self, replica: int) -> bool:
        fs = self.followers.get(replica)
        return (
            fs is not None
            and replica not in self.maximal_isr()
            and fs.log_end_offset >= self.high_watermark
            and fs.log_end_offset >= self.leader_epoch_start_offset
        )

    # -- acks=all ---------------------------------------------------------------------------

    def wait_for(self, end_offset: int) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self._acks_waiting.append((end_offset, future))
        self._complete_acks()
        return future

    def _complete_acks(self) -> None:
        still = []
        for end_offset, future in self._acks_waiting:
            if future.done():
                continue
            if self.high_watermark >= end_offset:
                future.set_result(0)
            else:
                still.append((end_offset, future))
        self._acks_waiting = still

    def fail_waiting(self, code: int) -> None:
        for _, future in self._acks_waiting:
            if not future.done():
                future.set_result(code)
        self._acks_waiting = []
