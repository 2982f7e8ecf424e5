"""A consumer group's membership as a record in ``__consumer_offsets`` (Kafka's
GroupMetadataKey v2 / GroupMetadataValue v3), so that a new coordinator knows the group.

Kafka's coordinator writes one such record when a generation's assignment is settled (the
leader's SyncGroup) and loads the latest one per group when it becomes leader of the group's
offsets partition.  The group then continues as it was: Stable, in the same generation, with
the same members and assignments, each member's session timer starting afresh.  A member that
heartbeats or commits with that generation is answered as before; one that does not come back
within ``session.timeout.ms`` is removed and the others rebalance into the next generation.
A null value is a deleted group.

Where kcli differs: Kafka also writes the record when a group becomes Empty; kcli writes it at
each settled generation only, so a group whose members all left is loaded with them and they
expire one session timeout later.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from kcli.serve.group_state import EMPTY, STABLE, Group, Member

GROUP_METADATA_KEY_VERSION = 2
GROUP_METADATA_VALUE_VERSION = 3
INT16 = struct.Struct(">h")
INT32 = struct.Struct(">i")
INT64 = struct.Struct(">q")


def write_string(s: str | None) -> bytes:
    """A Kafka int16-length string (length -1: null)."""
    if s is None:
        return INT16.pack(-1)
    data = s.encode()
    return INT16.pack(len(data)) + data


def _bytes(b: bytes) -> bytes:
    return INT32.pack(len(b)) + b


class Reader:
    """Reads the fields of a record key or value in order."""

    def __init__(self, data: bytes, pos: int = 0):
        self.data = data
        self.pos = pos

    def _unpack(self, fmt: struct.Struct) -> int:
        (value,) = fmt.unpack_from(self.data, self.pos)
        self.pos += fmt.size
        return value

    def int16(self) -> int:
        return self._unpack(INT16)

    def int32(self) -> int:
        return self._unpack(INT32)

    def int64(self) -> int:
        return self._unpack(INT64)

    def string(self) -> str | None:
        n = self.int16()
        if n < 0:
            return None
        s = self.data[self.pos : self.pos + n].decode()
        self.pos += n
        return s

    def bytes(self) -> bytes:
        n = self.int32()
        if n < 0:
            return b""
        b = bytes(self.data[self.pos : self.pos + n])
        self.pos += n
        return b


@dataclass(frozen=True)
class MemberMetadata:
    """One member as GroupMetadataValue holds it."""

    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    subscription: bytes
    assignment: bytes


@dataclass(frozen=True)
class GroupMetadata:
    """A group's settled generation as GroupMetadataValue holds it."""

    group_id: str
    protocol_type: str
    generation: int
    protocol: str | None
    leader: str | None
    current_state_timestamp: int
    members: tuple[MemberMetadata, ...]


def group_metadata_key(group: str) -> bytes:
    return INT16.pack(GROUP_METADATA_KEY_VERSION) + write_string(group)


def is_group_metadata_key(key: bytes) -> bool:
    return INT16.unpack_from(key, 0)[0] == GROUP_METADATA_KEY_VERSION


def group_metadata_value(meta: GroupMetadata) -> bytes:
    out = [
        INT16.pack(GROUP_METADATA_VALUE_VERSION),
        write_string(meta.protocol_type),
        INT32.pack(meta.generation),
        write_string(meta.protocol),
        write_string(meta.leader),
        INT64.pack(meta.current_state_timestamp),
        INT32.pack(len(meta.members)),
    ]
    for m in meta.members:
        out += [
            write_string(m.member_id),
            write_string(m.group_instance_id),
            write_string(m.client_id),
            write_string(m.client_host),
            INT32.pack(m.rebalance_timeout_ms),
            INT32.pack(m.session_timeout_ms),
            _bytes(m.subscription),
            _bytes(m.assignment),
        ]
    return b"".join(out)


def parse_group_metadata(key: bytes, value: bytes | None) -> tuple[str, GroupMetadata | None]:
    """(group id, its metadata or None for a deleted group) from a GroupMetadata record.

    Reads values v0 to v3, as Kafka's GroupMetadataManager does."""
    group = Reader(key, 2).string() or ""
    if value is None:
        return group, None
    r = Reader(value)
    version = r.int16()
    protocol_type = r.string() or ""
    generation = r.int32()
    protocol = r.string()
    leader = r.string()
    timestamp = r.int64() if version >= 2 else -1
    members = []
    for _ in range(r.int32()):
        member_id = r.string() or ""
        instance_id = r.string() if version >= 3 else None
        client_id = r.string() or ""
        client_host = r.string() or ""
        session_timeout = r.int32()
        rebalance_timeout = session_timeout
        if version >= 1:
            # v1+ puts the rebalance timeout first.
            rebalance_timeout, session_timeout = session_timeout, r.int32()
        members.append(
            MemberMetadata(
                member_id,
                instance_id,
                client_id,
                client_host,
                rebalance_timeout,
                session_timeout,
                r.bytes(),
                r.bytes(),
            )
        )
    return group, GroupMetadata(
        group, protocol_type, generation, protocol, leader, timestamp, tuple(members)
    )


def metadata_of(group: Group, timestamp_ms: int) -> GroupMetadata:
    """The record of a group whose generation has just been settled."""
    return GroupMetadata(
        group.group_id,
        group.protocol_type,
        group.generation,
        group.protocol or None,
        group.leader or None,
        timestamp_ms,
        tuple(
            MemberMetadata(
                m.member_id,
                m.group_instance_id,
                m.client_id,
                m.client_host,
                m.rebalance_timeout_ms,
                m.session_timeout_ms,
                m.metadata(group.protocol),
                m.assignment,
            )
            for m in group.members.values()
        ),
    )


def group_from(meta: GroupMetadata, now: float) -> Group:
    """The live group a new coordinator continues: Stable in the loaded generation (Empty if
    it has no members), every member's session starting at ``now``."""
    group = Group(
        meta.group_id,
        state=STABLE if meta.members else EMPTY,
        generation=meta.generation,
        protocol_type=meta.protocol_type,
        protocol=meta.protocol or "",
        leader=meta.leader or "",
    )
    for m in meta.members:
        group.members[m.member_id] = Member(
            member_id=m.member_id,
            group_instance_id=m.group_instance_id,
            client_id=m.client_id,
            client_host=m.client_host,
            session_timeout_ms=m.session_timeout_ms,
            rebalance_timeout_ms=m.rebalance_timeout_ms,
            protocol_type=meta.protocol_type,
            protocols=[(meta.protocol or "", m.subscription)],
            joined_at=now,
            last_heartbeat=now,
            assignment=m.assignment,
        )
    return group
