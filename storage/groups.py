"""Consumer groups without a broker: members, generations, assignments and committed offsets.

Kafka keeps a group's state in its group coordinator.  kcli has no broker, so the state lives
in the store and every member does the coordinator's bookkeeping itself, under a per-group file
lock::

    <data-dir>/groups/<group>/state.json     members, generation, assignment (the coordinator)
    <data-dir>/groups/<group>/offsets.json   committed offsets (the __consumer_offsets topic)
    <data-dir>/groups/.<group>.lock          the lock every change to the group takes

(``<group>`` is the group id with every character outside ``a-z 0-9 . _ -`` percent-encoded, so
that no group id can leave the directory and ``G`` and ``g`` stay apart on case-insensitive
file systems.)

The protocol is Kafka's eager rebalance protocol, played out in files:

1. A member *joins*: it registers (member id, client id, host, pid, topics, assignors,
   ``session.timeout.ms``) and the group enters ``PreparingRebalance``.
2. Every other member learns of the rebalance from its next heartbeat, stops fetching, commits,
   revokes its partitions and *rejoins*.
3. When every member has rejoined, the one that rejoined last runs the group's assignor once,
   stores the assignment under generation N+1 and the group is ``Stable``.
4. A clean leave, or a member whose last heartbeat is older than ``session.timeout.ms``, or a
   member that does not rejoin within its rebalance timeout, or a change in the partition count
   of a subscribed topic, starts the next rebalance the same way.

So a partition has at most one owner per generation, and no member is given a partition before
its previous owner has revoked it (or was removed for missing its heartbeats, after which it
no longer fetches).  Commits carry the member id and generation, and stale ones are refused.

Every file is replaced atomically (temp file, fsync, rename); readers never take the lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock, Timeout

from storage.assignors import (
    Subscription,
    UnknownAssignor,
    assign,
    parse_strategy,
    select_protocol,
)
from storage.errors import StorageError

if TYPE_CHECKING:
    from storage.store import Store

GROUP_ID_MAX_LENGTH = 249
STATE_FILE = "state.json"
OFFSETS_FILE = "offsets.json"
LOCK_TIMEOUT_S = 30.0
PROTOCOL_TYPE = "consumer"

# Group states, as Kafka names them.
EMPTY = "Empty"
PREPARING_REBALANCE = "PreparingRebalance"
COMPLETING_REBALANCE = "CompletingRebalance"
STABLE = "Stable"
DEAD = "Dead"

COORDINATOR_KCLI = "kcli"
COORDINATOR_SERVE = "serve"

# Kafka's defaults for the member configs the store needs.
DEFAULT_SESSION_TIMEOUT_MS = 45_000
DEFAULT_HEARTBEAT_INTERVAL_MS = 3_000
DEFAULT_MAX_POLL_INTERVAL_MS = 300_000

_SAFE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-")


# -- errors ------------------------------------------------------------------------------------


class GroupError(StorageError):
    """Base class of consumer-group errors; ``error_code`` is Kafka's protocol error code."""

    error_code = -1


class InvalidGroupId(GroupError):
    """A group id that is empty, too long or not printable."""

    error_code = 24


class GroupNotFound(GroupError):
    """No group of that id has ever stored state or offsets here."""

    error_code = 69


class GroupNotEmpty(GroupError):
    """The operation needs a group without live members."""

    error_code = 68


class IllegalGeneration(GroupError):
    """A commit or heartbeat from a generation that is no longer the group's."""

    error_code = 22


class UnknownMemberId(GroupError):
    """The member id is not (or no longer) in the group."""

    error_code = 25


class RebalanceInProgress(GroupError):
    """The group is rebalancing; the member must rejoin first."""

    error_code = 27


class InconsistentGroupProtocol(GroupError):
    """A joining member shares no assignor with the group's members."""

    error_code = 23


class GroupProtocolMismatch(GroupError):
    """The group is coordinated elsewhere (kcli processes versus ``kcli serve``)."""

    error_code = 23


class InvalidSessionTimeout(GroupError):
    """A session timeout the group cannot work with."""

    error_code = 26


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
        )


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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_json(path: Path, body: dict[str, Any], *, durable: bool) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    data = (json.dumps(body, indent=1, sort_keys=True) + "\n").encode()
    with open(tmp, "wb") as f:
        f.write(data)
        if durable:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)
    if durable:
        _fsync_dir(path.parent)


def _as_tp_list(items: Iterable[Sequence[Any]]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted((str(t), int(p)) for t, p in items))


# -- the group store ---------------------------------------------------------------------------


class GroupStore:
    """Consumer-group state in a store: membership, generations, assignments, offsets.

    Safe to use from many processes and threads at once: every change takes the group's file
    lock and replaces the group's files atomically; reads take no lock.
    """

    def __init__(self, store: Store, clock=None):
        self.store = store
        self.clock = clock or store.clock
        self.groups_dir = store.groups_dir
        self.groups_dir.mkdir(parents=True, exist_ok=True)
        self._locks: dict[str, FileLock] = {}
        self._locks_mutex = threading.Lock()
        self._state_cache: dict[str, tuple[tuple[int, int, int], _GroupState]] = {}
        self._state_paths: dict[str, Path] = {}
        self.host = socket.gethostname()

    # -- files ---------------------------------------------------------------------------------

    def group_path(self, group: str) -> Path:
        validate_group_id(group)
        return self.groups_dir / group_dir_name(group)

    def _lock(self, group: str) -> _Locked:
        with self._locks_mutex:
            lock = self._locks.get(group)
            if lock is None:
                path = self.groups_dir / f".{group_dir_name(group)}.lock"
                lock = FileLock(str(path), timeout=LOCK_TIMEOUT_S)
                self._locks[group] = lock
        return _Locked(lock, group)

    def _read_state(self, group: str, *, copy: bool = True) -> _GroupState | None:
        """The group's state file, parsed; re-read only when it changed.  ``copy=False`` hands
        out the cached object itself, for callers that only read it."""
        path = self._state_paths.get(group)
        if path is None:
            path = self._state_paths[group] = self.group_path(group) / STATE_FILE
        try:
            st = os.stat(path)
        except FileNotFoundError:
            self._state_cache.pop(group, None)
            return None
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        cached = self._state_cache.get(group)
        if cached is not None and cached[0] == key:
            return _copy_state(cached[1]) if copy else cached[1]
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise StorageError(
                f"{path} is not valid JSON ({exc}); delete it to reset the group"
            ) from None
        try:
            state = _GroupState.from_json(raw)
        except (KeyError, TypeError, ValueError) as exc:
            raise StorageError(f"{path} is not a kcli group state file ({exc})") from None
        self._state_cache[group] = (key, state)
        return _copy_state(state) if copy else state

    def _write_state(self, state: _GroupState, *, durable: bool = True) -> None:
        d = self.group_path(state.group)
        d.mkdir(exist_ok=True)
        _write_json(d / STATE_FILE, state.to_json(), durable=durable)

    def _read_offsets(self, group: str) -> dict[tuple[str, int], OffsetAndMetadata]:
        path = self.group_path(group) / OFFSETS_FILE
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            return {}
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise StorageError(f"{path} is not valid JSON ({exc})") from None
        out = {}
        for row in raw.get("offsets", []):
            out[(row["topic"], int(row["partition"]))] = OffsetAndMetadata(
                int(row["offset"]), row.get("metadata", ""), int(row.get("commit_timestamp", -1))
            )
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

    def _exists(self, group: str) -> bool:
        d = self.group_path(group)
        return (d / STATE_FILE).exists() or (d / OFFSETS_FILE).exists()

    # -- the coordinator's bookkeeping ------------------------------------------------------

    def _now(self) -> int:
        return self.clock.now_ms()

    def _external_alive(self, state: _GroupState) -> bool:
        ext = state.external
        if state.coordinator != COORDINATOR_SERVE or not ext:
            return False
        if ext.get("host") != self.host:
            return True  # another machine's process: nothing here can tell it has stopped
        return _pid_alive(int(ext.get("pid", 0)))

    def _maintain(self, state: _GroupState, now: int) -> bool:
        """Expire silent members and complete a rebalance that can complete.  True if changed."""
        if state.coordinator == COORDINATOR_SERVE:
            return False
        changed = False
        gone = [
            mid
            for mid, m in state.members.items()
            if now - int(m["last_heartbeat_ms"]) > int(m["session_timeout_ms"])
            or (
                state.state == PREPARING_REBALANCE
                and not m.get("rejoined")
                and now > state.rebalance_deadline_ms
            )
        ]
        for mid in gone:
            del state.members[mid]
            changed = True
        if gone:
            self._prepare_rebalance(state, now)
        if self._try_complete(state):
            changed = True
        return changed

    def _prepare_rebalance(self, state: _GroupState, now: int) -> None:
        if state.state == PREPARING_REBALANCE:
            return
        state.state = PREPARING_REBALANCE
        for m in state.members.values():
            m["rejoined"] = False
        # Like Kafka's rebalance timeout (max.poll.interval.ms), but never shorter than a session,
        # so that a member whose heartbeats fail stops fetching before it can be removed.
        state.rebalance_deadline_ms = now + max(
            [
                max(int(m["rebalance_timeout_ms"]), int(m["session_timeout_ms"]))
                for m in state.members.values()
            ]
            or [0]
        )

    def _partition_counts(self, topics: Iterable[str]) -> dict[str, int]:
        counts = {}
        for topic in sorted(set(topics)):
            try:
                counts[topic] = self.store.topic(topic).partitions
            except StorageError:
                continue  # not created yet (or an invalid name): nothing to assign
        return counts

    def _try_complete(self, state: _GroupState) -> bool:
        if state.state != PREPARING_REBALANCE:
            return False
        if any(not m.get("rejoined") for m in state.members.values()):
            return False
        state.generation += 1
        state.rebalance_deadline_ms = 0
        if not state.members:
            state.state = EMPTY
            state.assignor = ""
            state.assignment = {}
            state.partitions = {}
            return True
        prefs = {mid: m["assignors"] for mid, m in state.members.items()}
        assignor = select_protocol(prefs) or ""
        counts = self._partition_counts(t for m in state.members.values() for t in m["topics"])
        previous = state.assignment
        subs = {
            mid: Subscription(
                tuple(m["topics"]), tuple((t, int(p)) for t, p in previous.get(mid, []))
            )
            for mid, m in state.members.items()
        }
        result = assign(assignor, counts, subs)
        state.assignor = assignor
        state.assignment = {mid: [[t, p] for t, p in tps] for mid, tps in result.items()}
        state.partitions = counts
        state.state = STABLE
        return True

    def _metadata_changed(self, state: _GroupState) -> bool:
        if state.state != STABLE or not state.members:
            return False
        topics = {t for m in state.members.values() for t in m["topics"]}
        return self._partition_counts(topics) != state.partitions

    def _view(self, state: _GroupState, member_id: str) -> MemberView:
        m = state.members[member_id]
        assignment = None
        if state.state == STABLE and member_id in state.assignment:
            assignment = _as_tp_list(state.assignment[member_id])
        return MemberView(
            member_id=member_id,
            group_state=state.state,
            generation=state.generation,
            assignor=state.assignor,
            rejoin_needed=state.state == PREPARING_REBALANCE and not m.get("rejoined"),
            assignment=assignment,
            session_timeout_ms=int(m["session_timeout_ms"]),
        )

    def _unknown_member(self, group: str, member_id: str) -> UnknownMemberId:
        return UnknownMemberId(
            f"member '{member_id}' is not a member of group '{group}': it left, or missed its "
            f"heartbeats for longer than session.timeout.ms and was removed; rejoin the group"
        )

    # -- membership (kcli processes) -----------------------------------------------------------

    def join_group(
        self,
        group: str,
        *,
        topics: Sequence[str],
        assignors: Sequence[str] | str = ("range", "roundrobin"),
        client_id: str = "kcli",
        member_id: str = "",
        host: str | None = None,
        pid: int | None = None,
        session_timeout_ms: int = DEFAULT_SESSION_TIMEOUT_MS,
        rebalance_timeout_ms: int = DEFAULT_MAX_POLL_INTERVAL_MS,
    ) -> MemberView:
        """Join (``member_id=""``: as a new member) or rejoin the group.

        A new member, or a member whose subscription changed, starts a rebalance; a member
        that was asked to rejoin acknowledges with this call that it has revoked its
        partitions.  The returned view has an ``assignment`` once the rebalance has completed.
        """
        validate_group_id(group)
        try:
            prefs = list(parse_strategy(assignors))
        except UnknownAssignor as exc:
            raise InconsistentGroupProtocol(str(exc)) from None
        if session_timeout_ms < 1 or rebalance_timeout_ms < 1:
            raise InvalidSessionTimeout(
                f"session.timeout.ms ({session_timeout_ms}) and max.poll.interval.ms "
                f"({rebalance_timeout_ms}) must be positive"
            )
        topic_list = sorted(set(topics))
        if not topic_list:
            raise InvalidGroupId(
                f"a member of group '{group}' must subscribe to at least one topic"
            )
        with self._lock(group):
            now = self._now()
            state = self._read_state(group) or _GroupState(group=group)
            if state.coordinator == COORDINATOR_SERVE:
                if self._external_alive(state) and state.external.get("members"):
                    raise GroupProtocolMismatch(
                        f"group '{group}' is being coordinated by kcli serve over the Kafka "
                        f"protocol and has {len(state.external['members'])} member(s) there; "
                        f"use another group id, or stop those clients first"
                    )
                state.coordinator = COORDINATOR_KCLI
                state.external = {}
                state.members = {}
                state.state = EMPTY
            self._maintain(state, now)
            others = {mid: m["assignors"] for mid, m in state.members.items() if mid != member_id}
            if others and select_protocol({**others, "": prefs}) is None:
                used = state.assignor or ", ".join(sorted({a for v in others.values() for a in v}))
                raise InconsistentGroupProtocol(
                    f"group '{group}' uses partition.assignment.strategy {used}, and "
                    f"this member supports only {', '.join(prefs)}; members of one group must "
                    f"share at least one assignor"
                )
            record = {
                "client_id": client_id,
                "host": host or self.host,
                "pid": os.getpid() if pid is None else pid,
                "topics": topic_list,
                "assignors": prefs,
                "session_timeout_ms": int(session_timeout_ms),
                "rebalance_timeout_ms": int(rebalance_timeout_ms),
                "last_heartbeat_ms": now,
                "rejoined": True,
            }
            if member_id:
                current = state.members.get(member_id)
                if current is None:
                    raise self._unknown_member(group, member_id)
                changed = current["topics"] != topic_list or current["assignors"] != prefs
                record["joined_ms"] = current.get("joined_ms", now)
                state.members[member_id] = record
                if changed or state.state != STABLE:
                    self._prepare_rebalance(state, now)
                    record["rejoined"] = True
            else:
                member_id = f"{client_id}-{uuid.uuid4()}"
                record["joined_ms"] = now
                self._prepare_rebalance(state, now)
                state.members[member_id] = record
            self._try_complete(state)
            self._write_state(state)
            return self._view(state, member_id)

    def heartbeat(self, group: str, member_id: str) -> MemberView:
        """Record that the member is alive and tell it where the group stands.

        Raises UnknownMemberId once the member has been removed (session expired, or it did not
        rejoin within its rebalance timeout).
        """
        with self._lock(group):
            now = self._now()
            state = self._read_state(group)
            if state is None or state.coordinator == COORDINATOR_SERVE:
                raise self._unknown_member(group, member_id)
            changed = self._maintain(state, now)
            if member_id not in state.members:
                if changed:
                    self._write_state(state)
                raise self._unknown_member(group, member_id)
            if self._metadata_changed(state):
                self._prepare_rebalance(state, now)
                changed = True
            state.members[member_id]["last_heartbeat_ms"] = now
            # A heartbeat alone need not survive a power cut; membership changes must.
            self._write_state(state, durable=changed)
            return self._view(state, member_id)

    def peek(self, group: str, member_id: str) -> tuple[MemberView | None, bool]:
        """The member's view without taking the lock, and whether the group needs a locked
        operation now (a member is past its session or rebalance timeout).

        The view is None if the member is not in the group.  Cheap: the state file is only
        re-read when it changed.
        """
        state = self._read_state(group, copy=False)
        if state is None or member_id not in state.members:
            return None, False
        now = self._now()
        due = any(
            now - int(m["last_heartbeat_ms"]) > int(m["session_timeout_ms"])
            for m in state.members.values()
        ) or (state.state == PREPARING_REBALANCE and now > state.rebalance_deadline_ms)
        return self._view(state, member_id), due

    def leave_group(self, group: str, member_id: str) -> None:
        """Leave cleanly: the remaining members rebalance at once (no session timeout)."""
        with self._lock(group):
            now = self._now()
            state = self._read_state(group)
            if state is None or member_id not in state.members:
                return
            del state.members[member_id]
            self._prepare_rebalance(state, now)
            self._maintain(state, now)
            self._write_state(state)

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

    # -- inspection ------------------------------------------------------------------------

    def _live_members(self, state: _GroupState) -> int:
        if state.coordinator == COORDINATOR_SERVE:
            ext = state.external
            if ext.get("pid") == os.getpid() and ext.get("host") == self.host:
                return 0  # the caller is the coordinator that published the snapshot
            return len(ext.get("members", [])) if self._external_alive(state) else 0
        return len(state.members)

    def _describe_state(self, group: str, state: _GroupState | None) -> GroupDescription:
        if state is None:
            return GroupDescription(group, EMPTY, PROTOCOL_TYPE, "", 0, COORDINATOR_KCLI, ())
        if state.coordinator == COORDINATOR_SERVE:
            alive = self._external_alive(state)
            members = tuple(
                MemberDescription(
                    member_id=m["member_id"],
                    client_id=m.get("client_id", ""),
                    host=m.get("host", ""),
                    pid=m.get("pid"),
                    topics=tuple(m.get("topics", ())),
                    assignment=_as_tp_list(m.get("assignment", ())),
                    last_heartbeat_ms=int(m.get("last_heartbeat_ms", -1)),
                )
                for m in (state.external.get("members", []) if alive else [])
            )
            return GroupDescription(
                group=group,
                state=state.state if alive and members else EMPTY,
                protocol_type=state.protocol_type,
                assignor=state.assignor if alive and members else "",
                generation=state.generation,
                coordinator=COORDINATOR_SERVE,
                members=members,
            )
        self._maintain(state, self._now())
        stable = state.state == STABLE
        members = tuple(
            MemberDescription(
                member_id=mid,
                client_id=m["client_id"],
                host=m["host"],
                pid=m.get("pid"),
                topics=tuple(m["topics"]),
                assignment=_as_tp_list(state.assignment.get(mid, [])) if stable else (),
                last_heartbeat_ms=int(m["last_heartbeat_ms"]),
            )
            for mid, m in sorted(state.members.items())
        )
        return GroupDescription(
            group=group,
            state=state.state,
            protocol_type=state.protocol_type,
            assignor=state.assignor,
            generation=state.generation,
            coordinator=state.coordinator,
            members=members,
        )

    def describe_group(self, group: str) -> GroupDescription:
        """The group's state, assignor, generation and members (GroupNotFound if none)."""
        validate_group_id(group)
        state = self._read_state(group)
        if state is None and not self._exists(group):
            raise GroupNotFound(self._not_found_message(group))
        return self._describe_state(group, state)

    def _not_found_message(self, group: str) -> str:
        names = [g.group for g in self.list_groups()]
        hint = f"; existing groups: {', '.join(names)}" if names else "; there are no groups yet"
        return f"group '{group}' does not exist{hint}"

    def list_groups(self) -> list[GroupSummary]:
        """Every group with state or committed offsets in this store, by group id."""
        out = []
        try:
            entries = sorted(os.scandir(self.groups_dir), key=lambda e: e.name)
        except FileNotFoundError:
            return []
        for entry in entries:
            if not entry.is_dir() or entry.name.startswith("."):
                continue
            group = self._group_id_of(Path(entry.path))
            if group is None:
                continue
            try:
                d = self._describe_state(group, self._read_state(group))
            except StorageError:
                continue
            out.append(
                GroupSummary(
                    d.group, d.state, len(d.members), d.assignor, d.generation, d.coordinator
                )
            )
        return sorted(out, key=lambda s: s.group)

    def _group_id_of(self, d: Path) -> str | None:
        for name in (STATE_FILE, OFFSETS_FILE):
            try:
                raw = json.loads((d / name).read_text())
            except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
                continue
            group = raw.get("group")
            if isinstance(group, str) and group_dir_name(group) == d.name:
                return group
        return None

    def partition_offsets(self, group: str) -> list[PartitionOffsets]:
        """Every partition of the topics the group subscribes to or has committed offsets for,
        with committed offset, log end offset, lag and current owner (Kafka's ``--describe``)."""
        desc = self.describe_group(group)
        offsets = self.fetch_offsets(group)
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

    # -- administration --------------------------------------------------------------------

    def delete_group(self, group: str) -> None:
        """Delete the group's state and committed offsets; GroupNotEmpty while it has members."""
        validate_group_id(group)
        with self._lock(group):
            if not self._exists(group):
                raise GroupNotFound(self._not_found_message(group))
            state = self._read_state(group)
            if state is not None:
                self._raise_if_live(group, state, "deleted")
            d = self.group_path(group)
            for name in (STATE_FILE, OFFSETS_FILE):
                try:
                    (d / name).unlink()
                except FileNotFoundError:
                    pass
            for leftover in d.iterdir():
                if leftover.name.endswith(".tmp"):
                    leftover.unlink()
            try:
                d.rmdir()
            except OSError:
                pass
            _fsync_dir(self.groups_dir)
            self._state_cache.pop(group, None)

    def _raise_if_live(self, group: str, state: _GroupState, verb: str) -> None:
        desc = self._describe_state(group, state)
        if desc.members:
            who = ", ".join(
                f"{m.member_id}" + (f" (pid {m.pid})" if m.pid else "") for m in desc.members[:3]
            )
            more = f" and {len(desc.members) - 3} more" if len(desc.members) > 3 else ""
            raise GroupNotEmpty(
                f"group '{group}' has {len(desc.members)} live member(s): {who}{more}; its "
                f"offsets can only be {verb} while the group is inactive — stop its consumers "
                f"(or wait session.timeout.ms after they died) and try again"
            )

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
        committed = self.fetch_offsets(group)
        plan = []
        for p in partitions:
            log = self.store.log(topic, p)  # PartitionNotFound for a bad partition number
            start, end = log.log_start_offset, log.log_end_offset
            old = committed.get((topic, p))
            if spec.kind == "earliest":
                target = start
            elif spec.kind == "latest":
                target = end
            elif spec.kind == "offset":
                target = spec.value
            elif spec.kind == "shift":
                base = old.offset if old else start
                target = base + spec.value
            elif spec.kind == "datetime":
                found = log.offset_for_time(spec.value)
                target = end if found is None else found
            else:
                raise StorageError(f"unknown reset kind '{spec.kind}'")
            new = min(max(target, start), end)
            plan.append(
                OffsetReset(
                    topic=topic,
                    partition=p,
                    committed_offset=old.offset if old else None,
                    new_offset=new,
                    log_start_offset=start,
                    log_end_offset=end,
                    clamped=new != target,
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
            clean = self._normalize_offsets(offsets, self._now())
            current = self._read_offsets(group)
            current.update(clean)
            self._write_offsets(group, current)

    # -- groups coordinated by kcli serve --------------------------------------------------

    def claim_external(self, group: str) -> None:
        """Mark the group as coordinated by this process (kcli serve) before it accepts a
        JoinGroup; GroupProtocolMismatch while kcli-process members are live in it."""
        validate_group_id(group)
        with self._lock(group):
            now = self._now()
            state = self._read_state(group) or _GroupState(group=group)
            if state.coordinator == COORDINATOR_KCLI:
                self._maintain(state, now)
                if state.members:
                    raise GroupProtocolMismatch(
                        f"group '{group}' has {len(state.members)} live kcli consumer(s) "
                        f"(kcli consume / the Python Consumer); a Kafka client cannot join it "
                        f"until they leave — use another group id"
                    )
            state.coordinator = COORDINATOR_SERVE
            state.members = {}
            state.assignment = {}
            state.external = {
                **state.external,
                "pid": os.getpid(),
                "host": self.host,
                "published_ms": now,
            }
            self._write_state(state)

    def publish_external(
        self,
        group: str,
        *,
        state: str,
        generation: int,
        protocol_type: str,
        assignor: str,
        members: Sequence[MemberDescription],
    ) -> None:
        """Publish a snapshot of a group that kcli serve coordinates over the wire, so that
        ``kcli group`` commands show it.  Once the publishing process stops, it shows Empty."""
        validate_group_id(group)
        with self._lock(group):
            now = self._now()
            current = self._read_state(group) or _GroupState(group=group)
            if current.coordinator == COORDINATOR_KCLI:
                self._maintain(current, now)
                if current.members:
                    raise GroupProtocolMismatch(
                        f"group '{group}' has {len(current.members)} live kcli consumer(s); "
                        f"it cannot also be coordinated by kcli serve"
                    )
            current.coordinator = COORDINATOR_SERVE
            current.state = state
            current.generation = int(generation)
            current.protocol_type = protocol_type
            current.assignor = assignor
            current.members = {}
            current.assignment = {}
            current.external = {
                "pid": os.getpid(),
                "host": self.host,
                "published_ms": now,
                "members": [
                    {
                        "member_id": m.member_id,
                        "client_id": m.client_id,
                        "host": m.host,
                        "pid": m.pid,
                        "topics": list(m.topics),
                        "assignment": [list(tp) for tp in m.assignment],
                        "last_heartbeat_ms": m.last_heartbeat_ms,
                    }
                    for m in members
                ],
            }
            self._write_state(current, durable=False)


class _Locked:
    def __init__(self, lock: FileLock, group: str):
        self._lock = lock
        self._group = group

    def __enter__(self):
        try:
            self._lock.acquire(poll_interval=0.002)
        except Timeout:
            raise StorageError(
                f"group '{self._group}' is locked by another process ({self._lock.lock_file}); "
                f"try again"
            ) from None
        return self

    def __exit__(self, *exc):
        self._lock.release()


def _copy_state(state: _GroupState) -> _GroupState:
    return _GroupState.from_json(json.loads(json.dumps(state.to_json())))
