"""Lag and offset resets: ``kafka-consumer-groups --describe`` and ``--reset-offsets``.

``GroupResets`` is the part of ``storage.groups.GroupStore`` that joins committed offsets with
the logs: each partition's committed offset, log end offset, lag and owner, and the plan
(and its execution) that moves a group's committed offsets while the group is inactive.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from storage.errors import StorageError
from storage.group_files import GroupFiles, GroupPart
from storage.group_offsets import CommittedOffsets
from storage.group_types import (
    GroupDescription,
    MemberDescription,
    OffsetAndMetadata,
    OffsetReset,
    PartitionOffsets,
    ResetSpec,
    _GroupState,
    validate_group_id,
)


class GroupResets(GroupPart):
    """Lag per partition and offset resets (a part of GroupStore).

    ``describe_group`` and ``raise_if_live`` are the group store's (what a group is made
    of, and the refusal while it has live members).
    """

    def __init__(
        self,
        files: GroupFiles,
        offsets: CommittedOffsets,
        describe_group: Callable[[str], GroupDescription],
        raise_if_live: Callable[[str, _GroupState, str], None],
    ):
        super().__init__(files)
        self._offsets = offsets
        self._describe_group = describe_group
        self._raise_if_live = raise_if_live

    # -- lag -------------------------------------------------------------------------------

    def partition_offsets(self, group: str) -> list[PartitionOffsets]:
        """Every partition of the topics the group subscribes to or has committed offsets for,
        with committed offset, log end offset, lag and current owner (Kafka's ``--describe``)."""
        desc = self._describe_group(group)
        offsets = self._offsets.fetch_offsets(group)
        owner: dict[tuple[str, int], MemberDescription] = {}
        topics = {t for t, _p in offsets}
        for m in desc.members:
            topics.update(m.topics)
            for tp in m.assignment:
                owner[tp] = m
        rows = []
        for topic in sorted(topics):
            try:
                count = self.store.topic(topic).partitions
            except StorageError:
                count = 0  # deleted, or subscribed before it exists
            known = {p for t, p in offsets if t == topic}
            for partition in sorted(set(range(count)) | known):
                committed = offsets.get((topic, partition))
                try:
                    log_end = self.store.log(topic, partition).log_end_offset
                except StorageError:
                    continue
                m = owner.get((topic, partition))
                rows.append(
                    PartitionOffsets(
                        topic=topic,
                        partition=partition,
                        committed_offset=committed.offset if committed else None,
                        log_end_offset=log_end,
                        lag=log_end - committed.offset if committed else None,
                        member_id=m.member_id if m else None,
                        client_id=m.client_id if m else None,
                        host=m.host if m else None,
                    )
                )
        return rows

    # -- resets ----------------------------------------------------------------------------

    def plan_reset(
        self,
        group: str,
        topic: str,
        spec: ResetSpec,
        partitions: Sequence[int] | None = None,
    ) -> list[OffsetReset]:
        """Where each partition's committed offset would move (nothing is changed).

        Offsets outside [log_start_offset, log_end_offset] are moved to the nearest end, as
        Kafka's kafka-consumer-groups tool does.
        """
        validate_group_id(group)
        meta = self.store.topic(topic)
        if partitions is None:
            partitions = range(meta.partitions)
        committed = self._offsets.fetch_offsets(group)
        plan = []
        for p in partitions:
            log = self.store.log(topic, p)  # PartitionNotFound for a bad partition number
            old = committed.get((topic, p))
            found = log.offset_for_time(spec.value) if spec.kind == "datetime" else None
            plan.append(
                spec.plan(
                    topic,
                    p,
                    log.log_start_offset,
                    log.log_end_offset,
                    old.offset if old else None,
                    found,
                )
            )
        return plan

    def check_inactive(self, group: str, verb: str = "reset") -> None:
        """GroupNotEmpty if the group has live members (what a reset or delete requires)."""
        validate_group_id(group)
        state = self._read_state(group)
        if state is not None:
            self._raise_if_live(group, state, verb)

    def execute_reset(self, group: str, plan: Sequence[OffsetReset]) -> None:
        """Commit a reset plan, refusing while the group has live members."""
        validate_group_id(group)
        with self._lock(group):
            state = self._read_state(group)
            if state is not None:
                self._raise_if_live(group, state, "reset")
            offsets = {(r.topic, r.partition): OffsetAndMetadata(r.new_offset) for r in plan}
            clean = self._offsets.normalize_offsets(offsets, self._now())
            current = self._offsets.read_offsets(group)
            current.update(clean)
            self._offsets.write_offsets(group, current)
