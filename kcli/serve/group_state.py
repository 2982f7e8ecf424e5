"""A consumer group's live protocol state, as the coordinator keeps it in memory.

Kafka's group states, and the ``Member`` and ``Group`` records that the coordinator's join,
sync, heartbeat and leave handlers move through them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

EMPTY = "Empty"
PREPARING_REBALANCE = "PreparingRebalance"
COMPLETING_REBALANCE = "CompletingRebalance"
STABLE = "Stable"
DEAD = "Dead"


@dataclass
class Member:
    """One consumer in a group, as the coordinator knows it."""

    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    session_timeout_ms: int
    rebalance_timeout_ms: int
    protocol_type: str
    protocols: list[tuple[str, bytes]]
    joined_at: float
    last_heartbeat: float
    assignment: bytes = b""
    join_future: asyncio.Future | None = None
    sync_future: asyncio.Future | None = None

    def metadata(self, protocol: str) -> bytes:
        for name, metadata in self.protocols:
            if name == protocol:
                return metadata
        return b""


@dataclass
class Group:
    """A group's live protocol state."""

    group_id: str
    state: str = EMPTY
    generation: int = 0
    protocol_type: str = ""
    protocol: str = ""
    leader: str = ""
    members: dict[str, Member] = field(default_factory=dict)
    # member ids handed out with MEMBER_ID_REQUIRED, and when they expire
    pending: dict[str, float] = field(default_factory=dict)
    rebalance_deadline: float = 0.0
    join_not_before: float = 0.0

    def protocols_in_common(self) -> list[str]:
        common: set[str] | None = None
        for member in self.members.values():
            names = {name for name, _ in member.protocols}
            common = names if common is None else common & names
        return sorted(common or ())
