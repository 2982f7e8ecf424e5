"""The vocabulary of consumer groups: constants, errors, value types and the group files.

Everything here is plain data shared by ``storage.groups.GroupStore`` and its parts
(``group_membership``, ``group_offsets``, ``group_reset``, ``group_serve``): Kafka's group
states and protocol error codes, the frozen values the store returns, the contents of a group's
``state.json``, how a group id becomes a directory name, and the atomic JSON write every group
file goes through.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from storage.constants import (  # noqa: F401 - the group states, re-exported with the group API
    COMPLETING_REBALANCE,
    DEAD,
    EMPTY,
    PREPARING_REBALANCE,
    STABLE,
)
from storage.errors import (  # noqa: F401 - re-exported with the group API
    FencedInstanceId,
    GroupError,
    GroupNotEmpty,
    GroupNotFound,
    GroupProtocolMismatch,
    IllegalGeneration,
    InconsistentGroupProtocol,
    InvalidGroupId,
    InvalidSessionTimeout,
    RebalanceInProgress,
    StorageError,
    UnknownMemberId,
)
from storage.fileio import atomic_write

GROUP_ID_MAX_LENGTH = 249
STATE_FILE = "state.json"
OFFSETS_FILE = "offsets.json"
LOCK_TIMEOUT_S = 30.0
PROTOCOL_TYPE = "consumer"

# Group states, as Kafka names them: storage.constants (re-exported here).

COORDINATOR_KCLI = "kcli"
COORDINATOR_SERVE = "serve"

# Kafka's defaults for the member configs the store needs.
DEFAULT_SESSION_TIMEOUT_MS = 45_000
DEFAULT_HEARTBEAT_INTERVAL_MS = 3_000
DEFAULT_MAX_POLL_INTERVAL_MS = 300_000

_SAFE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-")


def group_not_found_message(group: str, existing: list[str]) -> str:
    hint = f"; existing groups: {', '.join(existing)}" if existing else "; there are no groups yet"
    return f"group '{group}' does not exist{hint}"


def group_not_empty_message(group: str, members: Sequence[Any], verb: str) -> str:
    """``members``: MemberDescription rows (a pid is shown when there is one)."""
    who = ", ".join(f"{m.member_id}" + (f" (pid {m.pid})" if m.pid else "") for m in members[:3])
    more = f" and {len(members) - 3} more" if len(members) > 3 else ""
    return (
        f"group '{group}' has {len(members)} live member(s): {who}{more}; its offsets can "
        f"only be {verb} while the group is inactive — stop its consumers (or wait "
        f"session.timeout.ms after they died) and try again"
    )


# -- values ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OffsetAndMetadata:
    """A committed offset: the next offset the group will read, plus the committer's note."""

    offset: int
    metadata: str = ""
    commit_timestamp: int = -1  # ms


@dataclass(frozen=True)
class MemberDescription:
    """One member of a group, as ``describe_group`` shows it."""

    member_id: str
    client_id: str
    host: str
    pid: int | None  # None for members connected over the wire
    topics: tuple[str, ...]  # subscription
    assignment: tuple[tuple[str, int], ...]  # (topic, partition), sorted
    last_heartbeat_ms: int
    group_instance_id: str | None = None  # set for a static member (KIP-345)
    # Consumer-protocol groups (KIP-848) only: the member's epoch and its target assignment.
    member_epoch: int | None = None
    target_assignment: tuple[tuple[str, int], ...] | None = None


@dataclass(frozen=True)
class RebalanceRecord:
    """One completed rebalance of a group of kcli processes: who revoked and who was given
    which partitions for ``generation``, and (cooperative) which wait for the next round."""

    generation: int
    protocol: str  # "eager" | "cooperative"
    assignor: str
    completed_ms: int
    revoked: tuple[tuple[str, tuple[tuple[str, int], ...]], ...]  # (member id, partitions)
    added: tuple[tuple[str, tuple[tuple[str, int], ...]], ...]
    waiting: tuple[tuple[str, int], ...]

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> RebalanceRecord:
        def per_member(d):
            return tuple((mid, _as_tp_list(tps)) for mid, tps in sorted(d.items()))

        return cls(
            generation=int(raw["generation"]),
            protocol=str(raw.get("protocol", "eager")),
            assignor=str(raw.get("assignor", "")),
            completed_ms=int(raw.get("completed_ms", -1)),
            revoked=per_member(raw.get("revoked", {})),
            added=per_member(raw.get("added", {})),
            waiting=_as_tp_list(raw.get("waiting", ())),
        )


@dataclass(frozen=True)
class GroupDescription:
    """A group's state, generation, assignor and members."""

    group: str
    state: str  # "Empty" | "Stable" | "PreparingRebalance" | "CompletingRebalance" | "Dead"
    protocol_type: str
    assignor: str  # "" when the group has no members
    generation: int
    coordinator: str  # "kcli" or "serve"
    members: tuple[MemberDescription, ...]
    protocol: str = ""  # the rebalance protocol: "eager" | "cooperative" ("" with no members)
    rebalances: tuple[RebalanceRecord, ...] = ()  # the last few, oldest first
    # "classic", or "consumer" for a KIP-848 group of kcli serve, whose generation is its
    # group epoch and which also has an assignment epoch.
    group_type: str = "classic"
    assignment_epoch: int = -1


@dataclass(frozen=True)
class GroupSummary:
    """One line of ``list_groups``."""

    group: str
    state: str
    members: int
    assignor: str
    generation: int
    coordinator: str


@dataclass(frozen=True)
class MemberView:
    """What a member learns from a join or a heartbeat."""

    member_id: str
    group_state: str
    generation: int
    assignor: str
    # True while the group waits for this member to revoke its partitions and rejoin.
    rejoin_needed: bool
    # This member's partitions in ``generation``; None until the rebalance has completed.
    assignment: tuple[tuple[str, int], ...] | None
    session_timeout_ms: int


@dataclass(frozen=True)
class PartitionOffsets:
    """One partition of a group's topics: committed offset, log end offset, lag and owner."""

    topic: str
    partition: int
    committed_offset: int | None
    log_end_offset: int
    lag: int | None
    member_id: str | None
    client_id: str | None
    host: str | None


@dataclass(frozen=True)
class OffsetReset:
    """One line of a reset plan: where the group's committed offset is and where it would go."""

    topic: str
    partition: int
    committed_offset: int | None
    new_offset: int
    log_start_offset: int
    log_end_offset: int
    clamped: bool = False  # the requested offset lay outside the log and was moved inside


@dataclass(frozen=True)
class ResetSpec:
    """Where ``reset`` moves committed offsets (``kafka-consumer-groups --reset-offsets``)."""

    kind: str  # "earliest" | "latest" | "offset" | "shift" | "datetime"
    value: int = 0  # the offset, the shift, or the timestamp in ms

    def plan(
        self,
        topic: str,
        partition: int,
        log_start_offset: int,
        log_end_offset: int,
        committed_offset: int | None,
        offset_for_time: int | None = None,
    ) -> OffsetReset:
        """One partition's line of a reset plan.  ``offset_for_time`` is the first offset at
        or after the ``datetime`` timestamp (None: no such record, so the log end).  A target
        outside [log_start_offset, log_end_offset] is moved to the nearest end, as Kafka's
        kafka-consumer-groups tool does."""
        start, end = log_start_offset, log_end_offset
        if self.kind == "earliest":
            target = start
        elif self.kind == "latest":
            target = end
        elif self.kind == "offset":
            target = self.value
        elif self.kind == "shift":
            target = (start if committed_offset is None else committed_offset) + self.value
        elif self.kind == "datetime":
            target = end if offset_for_time is None else offset_for_time
        else:
            raise StorageError(f"unknown reset kind '{self.kind}'")
        new = min(max(target, start), end)
        return OffsetReset(topic, partition, committed_offset, new, start, end, new != target)


@dataclass
class _GroupState:
    """The contents of state.json."""

    group: str
    protocol_type: str = PROTOCOL_TYPE
    coordinator: str = COORDINATOR_KCLI
    state: str = EMPTY
    generation: int = 0
    assignor: str = ""
    rebalance_deadline_ms: int = 0
    members: dict[str, dict[str, Any]] = field(default_factory=dict)
    assignment: dict[str, list[list[Any]]] = field(default_factory=dict)
    partitions: dict[str, int] = field(default_factory=dict)
    external: dict[str, Any] = field(default_factory=dict)
    # The last few completed rebalances (storage.group_protocols.rebalance_record), oldest first.
    rebalances: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "protocol_type": self.protocol_type,
            "coordinator": self.coordinator,
            "state": self.state,
            "generation": self.generation,
            "assignor": self.assignor,
            "rebalance_deadline_ms": self.rebalance_deadline_ms,
            "members": self.members,
            "assignment": self.assignment,
            "partitions": self.partitions,
            "external": self.external,
            "rebalances": self.rebalances,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> _GroupState:
        return cls(
            group=raw["group"],
            protocol_type=raw.get("protocol_type", PROTOCOL_TYPE),
            coordinator=raw.get("coordinator", COORDINATOR_KCLI),
            state=raw.get("state", EMPTY),
            generation=int(raw.get("generation", 0)),
            assignor=raw.get("assignor", ""),
            rebalance_deadline_ms=int(raw.get("rebalance_deadline_ms", 0)),
            members=dict(raw.get("members", {})),
            assignment=dict(raw.get("assignment", {})),
            partitions=dict(raw.get("partitions", {})),
            external=dict(raw.get("external", {})),
            rebalances=list(raw.get("rebalances", [])),
        )


def _copy_state(state: _GroupState) -> _GroupState:
    return _GroupState.from_json(json.loads(json.dumps(state.to_json())))


# -- helpers -------------------------------------------------------------------------------------


def validate_group_id(group: str) -> None:
    """Kafka accepts any non-empty group id; kcli also keeps it short and printable."""
    if not isinstance(group, str) or not group:
        raise InvalidGroupId("group id is empty; use 1-249 printable characters")
    if len(group) > GROUP_ID_MAX_LENGTH:
        raise InvalidGroupId(
            f"group id is {len(group)} characters long; the maximum is {GROUP_ID_MAX_LENGTH}"
        )
    if not group.isprintable():
        raise InvalidGroupId(
            f"group id {group!r} contains control characters; use printable characters only"
        )


def group_dir_name(group: str) -> str:
    """The directory name of a group: safe on every file system, never '.', '..' or a path."""
    out = []
    for ch in group:
        if ch in _SAFE_CHARS:
            out.append(ch)
        else:
            out.append("".join(f"%{b:02X}" for b in ch.encode("utf-8")))
    name = "".join(out)
    if name.startswith("."):
        name = "%2E" + name[1:]
    if len(name) > 200:
        digest = hashlib.sha256(group.encode("utf-8")).hexdigest()[:16]
        name = f"{name[:180]}~{digest}"
    return name


def _write_json(path: Path, body: dict[str, Any], *, durable: bool) -> None:
    atomic_write(
        path, (json.dumps(body, indent=1, sort_keys=True) + "\n").encode(), durable=durable
    )


def _as_tp_list(items: Iterable[Sequence[Any]]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted((str(t), int(p)) for t, p in items))
