"""confluent-kafka's group enums, ``ConsumerGroupState`` (with its mapping to Kafka's group
state names, storage.group_types) and ``ConsumerGroupType``, in one place for the local and
the remote admin API."""

from __future__ import annotations

from enum import Enum

from storage.constants import COMPLETING_REBALANCE, DEAD, EMPTY, PREPARING_REBALANCE, STABLE


class _OrderedByValue(Enum):
    """An enum whose members compare by value, as confluent-kafka's group enums do."""

    def __lt__(self, other):
        if not isinstance(other, type(self)):
            return NotImplemented
        return self.value < other.value


class ConsumerGroupState(_OrderedByValue):
    """A group's state (confluent-kafka's ``ConsumerGroupState``)."""

    UNKNOWN = 0
    PREPARING_REBALANCING = 1
    COMPLETING_REBALANCING = 2
    STABLE = 3
    DEAD = 4
    EMPTY = 5

    @classmethod
    def of(cls, state: str) -> ConsumerGroupState:
        """The state for a Kafka group state name ("Stable", "PreparingRebalance" ...)."""
        return _GROUP_STATES.get(state, cls.UNKNOWN)

    @property
    def kafka_name(self) -> str:
        """Kafka's name for the state ("Stable" ...), as ``kcli group`` shows it."""
        return next((k for k, v in _GROUP_STATES.items() if v is self), "Unknown")


class ConsumerGroupType(_OrderedByValue):
    """The group protocol (confluent-kafka's ``ConsumerGroupType``); kcli groups are CLASSIC."""

    UNKNOWN = 0
    CONSUMER = 1
    CLASSIC = 2


_GROUP_STATES = {
    EMPTY: ConsumerGroupState.EMPTY,
    STABLE: ConsumerGroupState.STABLE,
    PREPARING_REBALANCE: ConsumerGroupState.PREPARING_REBALANCING,
    COMPLETING_REBALANCE: ConsumerGroupState.COMPLETING_REBALANCING,
    DEAD: ConsumerGroupState.DEAD,
}
