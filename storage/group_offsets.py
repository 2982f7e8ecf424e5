"""Committed offsets of a group: the ``offsets.json`` file, Kafka's ``__consumer_offsets``.

``GroupOffsets`` is the part of ``storage.groups.GroupStore`` that commits, fetches and deletes
offsets, refusing commits as Kafka's coordinator does (from a stale generation, an unknown
member, or a tool while the group has live members).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from storage.errors import StorageError
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


class GroupOffsets:
    """A group's committed offsets (a mixin of GroupStore)."""

    # -- the offsets file ------------------------------------------------------------------

    def _read_offsets(self, group: str) -> dict[tuple[str, int], OffsetAndMetadata]:
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

    def _write_offsets(self, group: str, offsets: Mapping[tuple[str, int], OffsetAndMetadata]):
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

    def _normalize_offsets(
        self, offsets: Mapping[tuple[str, int], OffsetAndMetadata | int], now: int
    ) -> dict[tuple[str, int], OffsetAndMetadata]:
        out = {}
        for (topic, partition), value in offsets.items():
            meta = self.store.topic(topic)
            if not isinstance(partition, int) or not 0 <= partition < meta.partitions:
                from storage.errors import PartitionNotFound

                raise PartitionNotFound(
                    f"topic '{topic}' has {meta.partitions} partition(s), numbered "
                    f"0..{meta.partitions - 1}; partition {partition} does not exist"
                )
            if not isinstance(value, OffsetAndMetadata):
                value = OffsetAndMetadata(int(value))
            if value.offset < 0:
                raise StorageError(
                    f"cannot commit offset {value.offset} for {topic}-{partition}: committed "
                    f"offsets are 0 or more (the next offset to read)"
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
                changed = self._maintain(state, now)
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
                    raise self._unknown_member(group, member_id)
                if generation != state.generation:
                    raise IllegalGeneration(
                        f"commit refused: it comes from generation {generation} but group "
                        f"'{group}' is at generation {state.generation}; its partitions may "
                        f"have been reassigned since"
                    )
            clean = self._normalize_offsets(offsets, now)
            current = self._read_offsets(group)
            current.update(clean)
            self._write_offsets(group, current)

    def commit_offsets_trusted(
        self, group: str, offsets: Mapping[tuple[str, int], OffsetAndMetadata | int]
    ) -> None:
        """Store offsets without membership checks (for a coordinator that checked them)."""
        validate_group_id(group)
        with self._lock(group):
            clean = self._normalize_offsets(offsets, self._now())
            current = self._read_offsets(group)
            current.update(clean)
            self._write_offsets(group, current)

    def fetch_offsets(
        self, group: str, partitions: Iterable[tuple[str, int]] | None = None
    ) -> dict[tuple[str, int], OffsetAndMetadata]:
        """Committed offsets of the group (of ``partitions`` only, if given); {} if none."""
        validate_group_id(group)
        offsets = self._read_offsets(group)
        if partitions is None:
            return offsets
        return {tp: offsets[tp] for tp in partitions if tp in offsets}

    def delete_offsets(self, group: str, topic: str) -> None:
        """Forget the group's committed offsets for one topic (Kafka's OffsetDelete)."""
        validate_group_id(group)
        with self._lock(group):
            state = self._read_state(group)
            if state is not None:
                self._maintain(state, self._now())
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
            current = self._read_offsets(group)
            kept = {tp: o for tp, o in current.items() if tp[0] != topic}
            if len(kept) != len(current):
                self._write_offsets(group, kept)
