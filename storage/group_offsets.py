"""Committed offsets of a group: the ``offsets.json`` file, Kafka's ``__consumer_offsets``.

``CommittedOffsets`` is the part of ``storage.groups.GroupStore`` that commits, fetches and deletes
offsets, refusing commits as Kafka's coordinator does (from a stale generation, an unknown
member, or a tool while the group has live members).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from storage.errors import PartitionNotFound, StorageError, partition_not_found_message
from storage.group_files import GroupFiles, GroupPart
from storage.group_membership import GroupMembership
from storage.group_types import (
    OFFSETS_FILE,
    GroupNotEmpty,
    GroupNotFound,
    IllegalGeneration,
    OffsetAndMetadata,
    UnknownMemberId,
    _write_json,
    validate_group_id,
)


class CommittedOffsets(GroupPart):
    """A group's committed offsets (a part of GroupStore)."""

    def __init__(self, files: GroupFiles, membership: GroupMembership):
        super().__init__(files)
        self._membership = membership

    # -- the offsets file ------------------------------------------------------------------

    def read_offsets(self, group: str) -> dict[tuple[str, int], OffsetAndMetadata]:
        path = self.group_path(group) / OFFSETS_FILE
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            return {}
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise StorageError(f"{path} is not valid JSON ({exc})") from None
        out = {}
        try:
            for row in raw.get("offsets", []):
                out[(row["topic"], int(row["partition"]))] = OffsetAndMetadata(
                    int(row["offset"]),
                    row.get("metadata", ""),
                    int(row.get("commit_timestamp", -1)),
                )
        except (AttributeError, KeyError, TypeError, ValueError):
            raise StorageError(
                f'{path} is damaged: it should be a JSON object whose "offsets" list holds '
                f'objects with "topic", "partition" and "offset" (restore it, or '
                f"delete it to forget the group's committed offsets)"
            ) from None
        return out

    def write_offsets(self, group: str, offsets: Mapping[tuple[str, int], OffsetAndMetadata]):
        d = self.group_path(group)
        d.mkdir(exist_ok=True)
        rows = [
            {
                "topic": t,
                "partition": p,
                "offset": o.offset,
                "metadata": o.metadata,
                "commit_timestamp": o.commit_timestamp,
            }
            for (t, p), o in sorted(offsets.items())
        ]
        _write_json(d / OFFSETS_FILE, {"group": group, "offsets": rows}, durable=True)

    # -- committed offsets -----------------------------------------------------------------

    def normalize_offsets(
        self, offsets: Mapping[tuple[str, int], OffsetAndMetadata | int], now: int
    ) -> dict[tuple[str, int], OffsetAndMetadata]:
        out = {}
        for (topic, partition), value in offsets.items():
            meta = self.store.topic(topic)
            if not isinstance(partition, int) or not 0 <= partition < meta.partitions:
                raise PartitionNotFound(
                    partition_not_found_message(topic, meta.partitions, partition)
                )
            if not isinstance(value, OffsetAndMetadata):
                value = OffsetAndMetadata(int(value))
            # Any int64 is a committed offset, as in Kafka: some clients commit -1 or -2
            # ("latest"/"earliest") and read it back; readers treat a negative one as none.
            if not -(2**63) <= value.offset < 2**63:
                raise StorageError(
                    f"cannot commit offset {value.offset} for {topic}-{partition}: committed "
                    f"offsets are 64-bit signed integers"
                )
            if value.commit_timestamp < 0:
                value = OffsetAndMetadata(value.offset, value.metadata or "", now)
            out[(topic, partition)] = value
        return out

    def commit_offsets(
        self,
        group: str,
        offsets: Mapping[tuple[str, int], OffsetAndMetadata | int],
        *,
        generation: int = -1,
        member_id: str = "",
    ) -> None:
        """Store committed offsets, checked as Kafka's coordinator checks an OffsetCommit.

        With ``generation=-1`` and no member id (a tool, or a consumer using ``assign``) the
        group must have no live members.  Otherwise the member must be in the group and
        ``generation`` must be the group's current one: a commit from a member that missed a
        rebalance is refused, so it cannot overwrite what the partition's new owner commits.
        """
        validate_group_id(group)
        with self._lock(group):
            now = self._now()
            state = self._read_state(group)
            changed = False
            if state is not None:
                changed = self._membership.maintain(state, now)
            if changed:
                self._write_state(state)
            if not member_id and generation < 0:
                live = self._live_members(state) if state is not None else 0
                if live:
                    raise UnknownMemberId(
                        f"group '{group}' has {live} live member(s); only a member of the "
                        f"current generation may commit, or a tool once the group is empty"
                    )
            else:
                if state is None or member_id not in state.members:
                    raise self._membership.unknown_member(group, member_id)
                if generation != state.generation:
                    raise IllegalGeneration(
                        f"commit refused: it comes from generation {generation} but group "
                        f"'{group}' is at generation {state.generation}; its partitions may "
                        f"have been reassigned since"
                    )
            clean = self.normalize_offsets(offsets, now)
            current = self.read_offsets(group)
            current.update(clean)
            self.write_offsets(group, current)

    def commit_offsets_trusted(
        self, group: str, offsets: Mapping[tuple[str, int], OffsetAndMetadata | int]
    ) -> None:
        """Store offsets without membership checks (for a coordinator that checked them)."""
        validate_group_id(group)
        with self._lock(group):
            clean = self.normalize_offsets(offsets, self._now())
            current = self.read_offsets(group)
            current.update(clean)
            self.write_offsets(group, current)

    def fetch_offsets(
        self, group: str, partitions: Iterable[tuple[str, int]] | None = None
    ) -> dict[tuple[str, int], OffsetAndMetadata]:
        """Committed offsets of the group (of ``partitions`` only, if given); {} if none."""
        validate_group_id(group)
        offsets = self.read_offsets(group)
        if partitions is None:
            return offsets
        return {tp: offsets[tp] for tp in partitions if tp in offsets}

    def delete_offsets(
        self, group: str, topic: str, partitions: Iterable[int] | None = None
    ) -> None:
        """Forget the group's committed offsets for one topic (of ``partitions`` only, if
        given), as Kafka's OffsetDelete does."""
        validate_group_id(group)
        with self._lock(group):
            state = self._read_state(group)
            if state is not None:
                self._membership.maintain(state, self._now())
                subscribed = [mid for mid, m in state.members.items() if topic in m["topics"]] + [
                    m["member_id"]
                    for m in (
                        state.external.get("members", []) if self._external_alive(state) else []
                    )
                    if topic in m.get("topics", [])
                ]
                if subscribed:
                    raise GroupNotEmpty(
                        f"group '{group}' has {len(subscribed)} live member(s) subscribed to "
                        f"'{topic}'; stop them before deleting its offsets"
                    )
            if not self._exists(group):
                raise GroupNotFound(f"group '{group}' does not exist")
            current = self.read_offsets(group)
            only = None if partitions is None else set(partitions)
            kept = {
                tp: o
                for tp, o in current.items()
                if tp[0] != topic or (only is not None and tp[1] not in only)
            }
            if len(kept) != len(current):
                self.write_offsets(group, kept)
