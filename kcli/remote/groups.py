"""The consumer groups of a cluster, through the admin API, as GroupStore gives them."""

from __future__ import annotations

import time
from collections.abc import Sequence

from kcli.client.error_codes import GROUP_MOVED_ON
from kcli.client.error_codes import ErrorCodes as E
from kcli.client.group_states import ConsumerGroupState
from kcli.remote.cluster_client import ClusterClient
from storage import PartitionNotFound
from storage.errors import partition_not_found_message
from storage.groups import (
    DEAD,
    GroupDescription,
    GroupNotEmpty,
    GroupNotFound,
    GroupSummary,
    MemberDescription,
    PartitionOffsets,
    group_not_empty_message,
    group_not_found_message,
    validate_group_id,
)


class RemoteGroups:
    """The consumer groups of a cluster, with GroupStore's methods and value types.

    The admin API does not tell a group's generation, nor member pids and heartbeats: those
    are None (generation, pid) and -1 (last_heartbeat_ms).  A member's subscribed topics are
    the topics of its assignment.
    """

    def __init__(self, cluster: ClusterClient):
        self._cluster = cluster

    def _ck(self):
        return self._cluster.ck

    def _not_found(self, group: str) -> GroupNotFound:
        return GroupNotFound(group_not_found_message(group, self._group_names()))

    def _group_names(self) -> list[str]:
        try:
            return [g.group for g in self.list_groups()]
        except Exception:  # a hint only
            return []

    def _wait(self, futures, what: str, group: str) -> dict:
        """The cluster's answers to a request about ``group``; a group it does not know is
        GroupNotFound naming the groups there are, as the local store words it."""
        try:
            return self._cluster.wait(futures, what)
        except GroupNotFound:
            raise self._not_found(group) from None

    def _error(self, err, what: str, group: str):
        if err.code() == E.GROUP_ID_NOT_FOUND:
            return self._not_found(group)
        return self._cluster.error(err, what)

    def list_groups(self) -> list:
        cluster = self._cluster
        result = cluster.wait_one(
            cluster.admin.list_consumer_groups(request_timeout=cluster.timeout_s),
            "listing consumer groups",
        )
        if result.errors and not result.valid:
            raise cluster.error(result.errors[0], "listing consumer groups")
        ids = sorted({g.group_id for g in result.valid})
        described = self._describe(ids)
        out = []
        for gid in ids:
            d = described.get(gid)
            if d is None:
                continue
            out.append(
                GroupSummary(gid, d.state, len(d.members), d.assignor, d.generation, d.coordinator)
            )
        return out

    def _describe(self, ids: list[str]) -> dict:
        """{group: GroupDescription, or None for a group the cluster does not know}."""
        if not ids:
            return {}
        cluster = self._cluster
        futures = cluster.admin.describe_consumer_groups(ids, request_timeout=cluster.timeout_s)
        got = cluster.wait(futures, "describing consumer groups")
        out: dict = {}
        for gid, g in got.items():
            # confluent-kafka's ConsumerGroupState has the same member names as kcli's.
            name = getattr(g.state, "name", str(g.state))
            state = (
                ConsumerGroupState[name].kafka_name
                if name in ConsumerGroupState.__members__
                else name
            )
            if state == DEAD and not g.members:
                out[gid] = None
                continue
            members = []
            for m in sorted(g.members, key=lambda m: m.member_id):
                tps = m.assignment.topic_partitions if m.assignment else []
                assignment = tuple(sorted((tp.topic, tp.partition) for tp in tps))
                # Set for members of a consumer-protocol group (KIP-848); librdkafka does not
                # pass on their member epochs.
                target = getattr(m, "target_assignment", None)
                members.append(
                    MemberDescription(
                        member_id=m.member_id,
                        client_id=m.client_id,
                        host=m.host,
                        pid=None,
                        topics=tuple(sorted({t for t, _ in assignment})),
                        assignment=assignment,
                        last_heartbeat_ms=-1,
                        group_instance_id=m.group_instance_id,
                        target_assignment=None
                        if target is None
                        else tuple(
                            sorted((tp.topic, tp.partition) for tp in target.topic_partitions)
                        ),
                    )
                )
            node = g.coordinator
            out[gid] = GroupDescription(
                group=gid,
                state=state,
                protocol_type="consumer",
                assignor=g.partition_assignor or "",
                generation=None,
                coordinator=f"{node.host}:{node.port} (id: {node.id})" if node else "",
                members=tuple(members),
                group_type="consumer"
                if getattr(getattr(g, "type", None), "name", "") == "CONSUMER"
                else "classic",
            )
        return out

    def describe_group(self, group: str):
        validate_group_id(group)
        desc = self._describe([group])[group]
        if desc is None:
            raise self._not_found(group)
        return desc

    def wait_until_left(self, group: str, member_id: str, timeout_s: float = 10.0) -> None:
        """Wait (a little) until ``member_id`` is no longer in the group: librdkafka sends
        LeaveGroup as it closes but does not wait for the answer."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                desc = self._describe([group]).get(group)
            except Exception:  # not allowed to describe groups: nothing to wait on
                return
            if desc is None or all(m.member_id != member_id for m in desc.members):
                return
            time.sleep(0.02)

    def committed(self, group: str, partitions: list[tuple[str, int]] | None = None) -> dict:
        """{(topic, partition): committed offset} (partitions without one are left out)."""
        ck, cluster = self._ck(), self._cluster
        request = ck.ConsumerGroupTopicPartitions(
            group, None if partitions is None else [ck.TopicPartition(t, p) for t, p in partitions]
        )
        futures = cluster.admin.list_consumer_group_offsets(
            [request], request_timeout=cluster.timeout_s
        )
        got = self._wait(futures, f"reading the committed offsets of group '{group}'", group)
        return {
            (tp.topic, tp.partition): tp.offset
            for tp in got[group].topic_partitions or []
            if tp.offset >= 0 and tp.error is None
        }

    def partition_offsets(self, group: str) -> list:
        cluster = self._cluster
        desc = self.describe_group(group)
        committed = self.committed(group)
        owner = {tp: m for m in desc.members for tp in m.assignment}
        topics = {t for t, _ in committed} | {t for m in desc.members for t in m.topics}
        md = cluster.metadata()
        wanted: list[tuple[str, int]] = []
        for topic in sorted(topics):
            t = md.topics.get(topic)
            count = len(t.partitions) if t is not None and t.error is None else 0
            known = {p for tt, p in committed if tt == topic}
            wanted += [(topic, p) for p in sorted(set(range(count)) | known) if p < count]
        ends: dict[tuple[str, int], int] = {}
        latest = cluster.ck.admin.OffsetSpec.latest
        for topic in sorted({t for t, _ in wanted}):
            parts = [p for t, p in wanted if t == topic]
            for p, end in cluster.list_offsets(topic, parts, latest()).items():
                ends[(topic, p)] = end
        rows = []
        for key in wanted:
            c = committed.get(key)
            m = owner.get(key)
            rows.append(
                PartitionOffsets(
                    topic=key[0],
                    partition=key[1],
                    committed_offset=c,
                    log_end_offset=ends[key],
                    lag=None if c is None else ends[key] - c,
                    member_id=m.member_id if m else None,
                    client_id=m.client_id if m else None,
                    host=m.host if m else None,
                )
            )
        return rows

    def check_inactive(self, group: str, verb: str = "reset") -> None:
        validate_group_id(group)
        desc = self._describe([group])[group]
        if desc is not None and desc.members:
            raise GroupNotEmpty(group_not_empty_message(group, list(desc.members), verb))

    def plan_reset(self, group: str, topic: str, spec, partitions: Sequence[int] | None = None):
        cluster = self._cluster
        validate_group_id(group)
        count = cluster.topic(topic).partitions
        numbers = list(range(count)) if partitions is None else list(partitions)
        for p in numbers:
            if not 0 <= p < count:
                raise PartitionNotFound(partition_not_found_message(topic, count, p))
        committed = self.committed(group, [(topic, p) for p in numbers])
        specs = cluster.ck.admin.OffsetSpec
        starts = cluster.list_offsets(topic, numbers, specs.earliest())
        ends = cluster.list_offsets(topic, numbers, specs.latest())
        found = {}
        if spec.kind == "datetime":
            found = cluster.list_offsets(topic, numbers, specs.for_timestamp(spec.value))
        plan = []
        for p in numbers:
            time_offset = found[p] if found.get(p, -1) >= 0 else None
            old = committed.get((topic, p))
            plan.append(spec.plan(topic, p, starts[p], ends[p], old, time_offset))
        return plan

    def execute_reset(self, group: str, plan: Sequence) -> None:
        if not plan:
            return
        ck, cluster = self._ck(), self._cluster
        self.check_inactive(group, "reset")
        request = ck.ConsumerGroupTopicPartitions(
            group, [ck.TopicPartition(r.topic, r.partition, r.new_offset) for r in plan]
        )
        futures = cluster.admin.alter_consumer_group_offsets(
            [request], request_timeout=cluster.timeout_s
        )
        what = f"resetting the offsets of group '{group}'"
        got = self._wait(futures, what, group)
        for tp in got[group].topic_partitions or []:
            if tp.error is None:
                continue
            if tp.error.code() in GROUP_MOVED_ON:
                # A member joined between the check and the commit.
                raise GroupNotEmpty(
                    f"group '{group}' has live members; its offsets can only be reset while "
                    f"the group is inactive — stop its consumers and try again"
                )
            raise self._error(tp.error, what, group)

    def delete_group(self, group: str) -> None:
        cluster = self._cluster
        validate_group_id(group)
        desc = self._describe([group])[group]
        if desc is None:
            raise self._not_found(group)
        if desc.members:
            raise GroupNotEmpty(group_not_empty_message(group, list(desc.members), "deleted"))
        futures = cluster.admin.delete_consumer_groups([group], request_timeout=cluster.timeout_s)
        self._wait(futures, f"deleting group '{group}'", group)
