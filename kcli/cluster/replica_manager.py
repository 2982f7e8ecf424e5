"""A cluster broker's replica manager (Kafka's ``ReplicaManager``): the hosted partitions, the
roles the metadata gives them, and what ``kcli serve``'s handlers ask about them.

The broker replays the controller's metadata log into its own ``MetadataImage``.  For every
partition it hosts it then becomes leader (followers start fetching from it) or follower (its
``ReplicaFetcher`` truncates a divergent tail with OffsetForLeaderEpoch and fetches from the
leader).  As leader it answers produce requests, tracks each follower's log end offset from
its fetches, moves the high watermark, completes acks=all requests, and asks the controller to
shrink or expand the ISR (AlterPartition).  It implements ``kcli.serve.replication.Replication``.
"""

from __future__ import annotations

import asyncio
import logging
import time

from kcli.cluster.config import ClusterConfig
from kcli.cluster.constants import HW_CHECKPOINT_FILE, OFFSETS_TOPIC
from kcli.cluster.group_offsets import GroupHandlers, offsets_partition_for
from kcli.cluster.metadata import NO_LEADER, MetadataImage, PartitionState
from kcli.cluster.partition import Partition
from kcli.cluster.rpc import AsyncControllerClient, ControllerUnavailable
from kcli.serve.protocol import ErrorCode
from kcli.serve.replication import PartitionMetadata
from storage import ProducerRecord, StorageError, Store
from storage.leader_epoch import LeaderEpochCache, stamp_leader_epoch
from storage.log import encode_batches
from storage.offset_checkpoint import read_offset_checkpoint, write_offset_checkpoint

log = logging.getLogger("kcli.cluster")

# Kafka's offsets.commit.timeout.ms: how long a commit waits for the offsets topic's ISR.
OFFSETS_COMMIT_TIMEOUT_MS = 5000
# How often the high watermarks are checkpointed (Kafka's
# replica.high.watermark.checkpoint.interval.ms is 5000; kcli writes them sooner so that
# ``kcli cluster status`` is fresh).
HW_CHECKPOINT_INTERVAL_S = 1.0


def _now_ms() -> float:
    return time.monotonic() * 1000


class ReplicaManager:
    """See the module docstring."""

    def __init__(
        self,
        node_id: int,
        store: Store,
        config: ClusterConfig,
        controller: AsyncControllerClient,
        *,
        brokers: int,
    ):
        self.node_id = node_id
        self.store = store
        self.config = config
        self.controller = controller
        self.expected_brokers = brokers
        self.image = MetadataImage()
        self.broker_epoch = -1
        self.partitions: dict[tuple[str, int], Partition] = {}
        self.fetchers = None  # kcli.cluster.fetcher.FetcherManager, set by the broker
        self.server = None  # the KafkaServer, set by attach()
        self.run = None  # the server's run-in-thread-pool
        self.watcher = None
        self.groups = GroupHandlers(self)
        self._producer_ids = (0, 0)  # next, end of the block in hand
        self._producer_id_lock = asyncio.Lock()
        self._hw_dirty = False
        self._checkpoints = self._read_hw_checkpoint()
        self._creating: set[str] = set()
        self._metadata_applied = asyncio.Event()

    def attach(self, server) -> None:
        self.server = server
        self.run = server.run
        self.watcher = server.watcher

    # -- metadata ------------------------------------------------------------------------

    async def apply_records(self, first_offset: int, records: list[dict]) -> None:
        """Replay metadata records, then act on the partitions they changed."""
        changed: dict[tuple[str, int], PartitionState] = {}
        removed = []
        reconfigured = set()
        for i, record in enumerate(records):
            if record["type"] == "RemoveTopicRecord":
                name = next(
                    (n for n, t in self.image.topics.items() if t.topic_id == record["topicId"]),
                    None,
                )
                if name is not None:
                    removed.append(name)
            if record["type"] == "ConfigRecord":
                reconfigured.add(record["resourceName"])
            state = self.image.apply(first_offset + i, record)
            if state is not None:
                changed[(state.topic, state.partition)] = state
            if record["type"] in ("FenceBrokerRecord", "UnfenceBrokerRecord"):
                # Leaders' view of who may join an ISR changed; nothing to do here.
                pass
        for name in removed:
            await self._remove_topic(name)
        for name in reconfigured - {t for t, _ in changed}:
            if name in self.image.topics:
                await self._apply_configs(name)
        topics = {t for t, _ in changed}
        for topic in topics:
            if topic in self.image.topics:
                await self._ensure_local_topic(topic)
        for state in changed.values():
            if state.topic in self.image.topics:
                await self._on_partition_change(state)
        self._metadata_applied.set()
        self._metadata_applied = asyncio.Event()

    async def wait_for_metadata(self, predicate, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._metadata_applied.wait(), remaining)
            except TimeoutError:
                return predicate()
        return True

    async def _ensure_local_topic(self, topic: str) -> None:
        """Every broker's store knows every topic (as every Kafka broker's metadata does), so
        that a group coordinator can check commits for any topic; only the replicas it hosts
        ever hold records."""
        t = self.image.topics[topic]
        count = len(t.partitions)

        def ensure():
            if not self.store.topic_exists(topic):
                self.store.create_topic(topic, count, dict(t.configs), if_not_exists=True)
            elif self.store.topic(topic).partitions < count:
                self.store.alter_topic(topic, partitions=count)

        await self.run(ensure)

    async def _apply_configs(self, topic: str) -> None:
        configs = dict(self.image.topics[topic].configs)

        def alter():
            if self.store.topic_exists(topic):
                self.store.alter_topic(topic, config=configs)

        await self.run(alter)

    async def _remove_topic(self, topic: str) -> None:
        for tp in [tp for tp in self.partitions if tp[0] == topic]:
            part = self.partitions.pop(tp)
            part.fail_waiting(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
            if self.fetchers is not None:
                self.fetchers.remove(tp)
            self._checkpoints.pop(tp, None)

        def delete():
            if self.store.topic_exists(topic):
                self.store.delete_topic(topic)

        await self.run(delete)
        if self.watcher is not None:
            self.watcher.wake_all()

    async def _partition(self, topic: str, partition: int) -> Partition:
        tp = (topic, partition)
        part = self.partitions.get(tp)
        if part is None:

            def open_replica():
                log_ = self.store.log(topic, partition)
                return log_, LeaderEpochCache.load(log_.directory, log_)

            log_, epochs = await self.run(open_replica)
            part = Partition(topic, partition, log_, epochs, self._checkpoints.get(tp, 0))
            self.partitions[tp] = part
        return part

    async def _on_partition_change(self, state: PartitionState) -> None:
        tp = (state.topic, state.partition)
        if self.node_id not in state.replicas:
            return
        part = await self._partition(*tp)
        new = PartitionState(
            **{**state.__dict__, "replicas": list(state.replicas), "isr": list(state.isr)}
        )
        if part.state is not None and new.partition_epoch < part.state.partition_epoch:
            return  # an AlterPartition answer already told us more
        if new.leader == self.node_id:
            was = part.is_leader(self.node_id) and part.leader_epoch == new.leader_epoch
            part.make_leader(new, self.node_id, _now_ms())
            if self.fetchers is not None:
                self.fetchers.remove(tp)
            if not was and state.topic == OFFSETS_TOPIC:
                asyncio.get_running_loop().create_task(self.groups.became_leader(part))
            if not was:
                log.info(
                    "%s-%d: leader, epoch %d, ISR %s",
                    state.topic,
                    state.partition,
                    new.leader_epoch,
                    new.isr,
                )
            self._advance(part)
        else:
            old_leader = part.state.leader if part.state is not None else None
            old_epoch = part.leader_epoch
            part.make_follower(new)
            if state.topic == OFFSETS_TOPIC:
                self.groups.became_follower(state.partition)
            if self.fetchers is None:
                return
            if new.leader == NO_LEADER:
                self.fetchers.remove(tp)
            elif old_leader != new.leader or old_epoch != new.leader_epoch:
                log.info(
                    "%s-%d: follower of broker %d, epoch %d",
                    state.topic,
                    state.partition,
                    new.leader,
                    new.leader_epoch,
                )
                self.fetchers.follow(part, new.leader)

    def broker_address(self, broker_id: int) -> tuple[str, int] | None:
        b = self.image.brokers.get(broker_id)
        return None if b is None else (b.host, b.port)

    # -- high watermark, ISR --------------------------------------------------------------

    def _advance(self, part: Partition) -> None:
        if part.advance_high_watermark(self.node_id):
            self._hw_dirty = True
            if self.watcher is not None:
                self.watcher.appended(part.tp)

    def follower_high_watermark(self, part: Partition, leader_hw: int) -> None:
        hw = min(leader_hw, part.log_end_offset)
        if hw > part.high_watermark:
            part.high_watermark = hw
            self._hw_dirty = True

    async def check_isr(self) -> None:
        """Periodically: followers lagging more than replica.lag.time.max.ms leave the ISR."""
        lag = self.config.replica_lag_time_max_ms
        while True:
            await asyncio.sleep(lag / 2000)
            now = _now_ms()
            for part in list(self.partitions.values()):
                if not part.is_leader(self.node_id) or part.pending_isr is not None:
                    continue
                out = part.out_of_sync(self.node_id, now, lag)
                if out:
                    log.info(
                        "%s-%d: replicas %s not caught up for replica.lag.time.max.ms=%d: "
                        "shrinking the ISR",
                        part.topic,
                        part.partition,
                        out,
                        lag,
                    )
                    new_isr = [r for r in part.state.isr if r not in out]
                    asyncio.get_running_loop().create_task(self._alter_isr(part, new_isr))

    def _maybe_expand(self, part: Partition, replica: int) -> None:
        if part.pending_isr is None and part.can_join_isr(replica):
            new_isr = [r for r in part.state.replicas if r in set(part.state.isr) | {replica}]
            log.info(
                "%s-%d: replica %d caught up: expanding the ISR",
                part.topic,
                part.partition,
                replica,
            )
            asyncio.get_running_loop().create_task(self._alter_isr(part, new_isr))

    async def _alter_isr(self, part: Partition, new_isr: list[int]) -> None:
        state = part.state
        part.pending_isr = new_isr
        try:
            answer = await self.controller.call(
                "AlterPartition",
                brokerId=self.node_id,
                brokerEpoch=self.broker_epoch,
                topic=part.topic,
                partition=part.partition,
                leaderEpoch=state.leader_epoch,
                partitionEpoch=state.partition_epoch,
                newIsr=new_isr,
            )
        except ControllerUnavailable as exc:
            log.warning("%s-%d: AlterPartition failed: %s", part.topic, part.partition, exc)
            answer = None
        finally:
            part.pending_isr = None
        if answer is None:
            return
        if answer["error_code"] != 0:
            log.info(
                "%s-%d: AlterPartition refused: %s %s",
                part.topic,
                part.partition,
                ErrorCode(answer["error_code"]).name,
                answer.get("error_message") or "",
            )
            return
        if part.state is state and part.is_leader(self.node_id):
            part.state = PartitionState(
                answer["topic"],
                answer["partition"],
                answer["replicas"],
                answer["isr"],
                answer["leader"],
                answer["leader_epoch"],
                answer["partition_epoch"],
            )
        self._advance(part)

    # -- high watermark checkpoints ---------------------------------------------------------

    def _read_hw_checkpoint(self) -> dict[tuple[str, int], int]:
        return read_offset_checkpoint(self.store.data_dir / HW_CHECKPOINT_FILE)

    async def checkpoint_high_watermarks(self) -> None:
        """Kafka's replication-offset-checkpoint: ``topic partition high-watermark`` lines."""
        while True:
            await asyncio.sleep(HW_CHECKPOINT_INTERVAL_S)
            if self._hw_dirty:
                self._hw_dirty = False
                await self.run(self.write_hw_checkpoint)

    def write_hw_checkpoint(self) -> None:
        write_offset_checkpoint(
            self.store.data_dir / HW_CHECKPOINT_FILE,
            {p.tp: p.high_watermark for p in self.partitions.values()},
        )

    # -- kcli.serve.replication.Replication ------------------------------------------------

    def handlers(self) -> dict:
        from kcli.cluster.broker_handlers import ClusterHandlers

        h = ClusterHandlers(self)
        g = self.groups
        return {
            8: g.offset_commit,
            9: g.offset_fetch,
            11: g.join_group,
            12: g.heartbeat,
            14: g.sync_group,
            19: h.create_topics,
            20: h.delete_topics,
            23: h.offset_for_leader_epoch,
            37: h.create_partitions,
            44: h.incremental_alter_configs,
        }

    def brokers(self) -> list[tuple[int, str, int]]:
        return [(b.broker_id, b.host, b.port) for b in self.image.live_brokers()]

    def controller_id(self) -> int:
        # As a KRaft broker answers: clients send admin requests to "the controller", and any
        # broker forwards them to the real one, so a broker names itself.
        return self.node_id

    def topic_names(self) -> list[str]:
        return sorted(self.image.topics)

    def topic_id(self, topic: str) -> str | None:
        t = self.image.topics.get(topic)
        return None if t is None else t.topic_id

    def topic_metadata(self, topic: str) -> list[PartitionMetadata] | None:
        t = self.image.topics.get(topic)
        if t is None:
            return None
        live = {b.broker_id for b in self.image.live_brokers()}
        return [
            PartitionMetadata(
                p.partition,
                p.leader,
                p.leader_epoch,
                list(p.replicas),
                list(p.isr),
                [r for r in p.replicas if r not in live],
            )
            for _, p in sorted(t.partitions.items())
        ]

    async def create_topics(self, topics: list[dict], validate_only: bool = False) -> list[dict]:
        answer = await self.controller.call(
            "CreateTopics", topics=topics, validateOnly=validate_only
        )
        results = answer.get("topics", [])
        for r in results:
            if r["error_code"] != 0:
                log.info("creating topic '%s' failed: %s", r["name"], r.get("error_message"))
        created = [r["name"] for r in results if r["error_code"] == 0]
        if created and not validate_only:
            await self.wait_for_metadata(lambda: all(n in self.image.topics for n in created), 10.0)
        return results

    async def auto_create(self, topic: str) -> bool:
        if topic in self.image.topics:
            return True
        if topic in self._creating:
            return False
        self._creating.add(topic)
        try:
            await self.create_topics(
                [{"name": topic, "numPartitions": -1, "replicationFactor": -1}]
            )
        except ControllerUnavailable as exc:
            log.warning("auto-creating topic '%s' failed: %s", topic, exc)
        finally:
            self._creating.discard(topic)
        return topic in self.image.topics

    def coordinator(self, key: str) -> tuple[int, str, int] | None:
        t = self.image.topics.get(OFFSETS_TOPIC)
        if t is None:
            asyncio.get_running_loop().create_task(self._create_offsets_topic())
            return None
        p = t.partitions.get(offsets_partition_for(key, len(t.partitions)))
        if p is None or p.leader == NO_LEADER:
            return None
        address = self.broker_address(p.leader)
        return None if address is None else (p.leader, *address)

    async def _create_offsets_topic(self) -> None:
        from kcli.cluster.controller import ensure_offsets_topic_request

        if OFFSETS_TOPIC in self._creating:
            return
        self._creating.add(OFFSETS_TOPIC)
        try:
            await self.create_topics(
                [ensure_offsets_topic_request(self.config, self.expected_brokers)]
            )
        except ControllerUnavailable as exc:
            log.warning("creating %s failed: %s", OFFSETS_TOPIC, exc)
        finally:
            self._creating.discard(OFFSETS_TOPIC)

    async def next_producer_id(self) -> int:
        async with self._producer_id_lock:
            start, end = self._producer_ids
            if start >= end:
                answer = await self.controller.call("AllocateProducerIds", brokerId=self.node_id)
                start = answer["producerIdStart"]
                end = start + answer["producerIdLen"]
            self._producer_ids = (start + 1, end)
            return start

    def leader_partition(self, topic: str, partition: int) -> tuple[int, Partition | None]:
        part = self.partitions.get((topic, partition))
        if part is None or not part.is_leader(self.node_id):
            t = self.image.topics.get(topic)
            if t is None or partition not in t.partitions:
                return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, None
            return ErrorCode.NOT_LEADER_OR_FOLLOWER, None
        return ErrorCode.NONE, part

    def min_insync_replicas(self, topic: str) -> int:
        """The topic's ``min.insync.replicas`` if it sets one, else the broker's default (as in
        Kafka, a topic config overrides the broker config of the same name)."""
        image = self.image.topics.get(topic)
        value = image.configs.get("min.insync.replicas") if image is not None else None
        return int(value) if value is not None else self.config.min_insync_replicas

    def check_append(self, topic: str, partition: int, acks: int) -> tuple[int, int]:
        error, part = self.leader_partition(topic, partition)
        if part is None:
            return error, -1
        if acks == -1 and len(part.state.isr) < self.min_insync_replicas(topic):
            return ErrorCode.NOT_ENOUGH_REPLICAS, -1
        return ErrorCode.NONE, part.leader_epoch

    def appended(
        self, topic: str, partition: int, base_offset: int, end_offset: int, epoch: int
    ) -> None:
        part = self.partitions.get((topic, partition))
        if part is None:
            return
        part.log_end_offset = max(part.log_end_offset, end_offset)
        if part.is_leader(self.node_id):
            # Wake the followers' waiting fetches now: acks=all waits for them.
            if self.watcher is not None:
                self.watcher.appended(part.tp)
            self._advance(part)

    async def wait_for_acks(
        self, topic: str, partition: int, end_offset: int, timeout_ms: int
    ) -> int:
        part = self.partitions.get((topic, partition))
        if part is None:
            return ErrorCode.NOT_LEADER_OR_FOLLOWER
        future = part.wait_for(end_offset)
        try:
            code = await asyncio.wait_for(future, max(timeout_ms, 1) / 1000)
        except TimeoutError:
            return ErrorCode.REQUEST_TIMED_OUT
        if code == 0 and len(part.state.isr) < self.min_insync_replicas(topic):
            return ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND
        return code

    def check_fetch(
        self, replica_id: int, topic: str, partition: int, fetch_offset: int, leader_epoch: int = -1
    ) -> tuple[int, int | None]:
        error, part = self.leader_partition(topic, partition)
        if part is None:
            return error, None
        if leader_epoch >= 0 and leader_epoch != part.leader_epoch:
            if leader_epoch < part.leader_epoch:
                return ErrorCode.FENCED_LEADER_EPOCH, None
            return ErrorCode.UNKNOWN_LEADER_EPOCH, None
        if replica_id < 0:
            return ErrorCode.NONE, part.high_watermark
        if replica_id not in part.state.replicas:
            return ErrorCode.NOT_LEADER_OR_FOLLOWER, None
        if fetch_offset > part.log_end_offset:
            # Past our log end: the follower diverged; the read answers OFFSET_OUT_OF_RANGE
            # and it truncates before it is counted.
            return ErrorCode.NONE, None
        part.follower_fetched(replica_id, fetch_offset, _now_ms())
        self._advance(part)
        self._maybe_expand(part, replica_id)
        return ErrorCode.NONE, None

    async def append_internal(
        self, topic: str, partition: int, records: list[tuple[bytes, bytes | None]]
    ) -> int:
        """Append records to an internal topic this broker leads, as a produce with acks=all
        would (Kafka's offsets.commit.required.acks is -1); the error code."""
        error, part = self.leader_partition(topic, partition)
        if part is None:
            return ErrorCode.NOT_COORDINATOR
        epoch = part.leader_epoch
        batches = encode_batches(
            [ProducerRecord(value, key) for key, value in records],
            int(time.time() * 1000),
            part.log.config.max_message_bytes,
            len(records),
        )
        stamped = []
        for batch in batches:
            data = bytearray(batch)
            stamp_leader_epoch(data, epoch)
            stamped.append(data)
        try:
            info = await self.run(part.log.append, stamped)
        except StorageError as exc:
            log.error("appending to %s-%d failed: %s", topic, partition, exc)
            return ErrorCode.UNKNOWN_SERVER_ERROR
        end = info.last_offset + 1
        self.appended(topic, partition, info.base_offset, end, epoch)
        code = await self.wait_for_acks(topic, partition, end, OFFSETS_COMMIT_TIMEOUT_MS)
        return ErrorCode.NONE if code == ErrorCode.NONE else ErrorCode.NOT_COORDINATOR

    def high_watermark(self, topic: str, partition: int) -> int:
        part = self.partitions.get((topic, partition))
        return -1 if part is None else part.high_watermark
