"""Topic configs: Kafka's keys, Kafka's defaults, and what makes a value valid.

A ``TopicConfig`` is a frozen dataclass whose attributes are Kafka's config names with dots
as underscores (``retention.ms`` is ``retention_ms``).  Every way in goes through
``validate_config``, so a ``TopicConfig`` always holds valid values: user input
(``kcli topic create --config``, CreateTopics over the wire) and the overrides stored in a
topic's metadata file, every time it is read.

The rules are a table (``RULES``), checked by hand rather than by a pydantic model: there are
a dozen keys, each an integer in a range, a ratio or one of a few words, and the table is also what the
error messages quote.  A pydantic model did the same job but cost every kcli command about
100 ms of start-up, just to import pydantic's model machinery.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from storage.constants import (
    CLEANUP_POLICY_COMPACT,
    CLEANUP_POLICY_COMPACT_DELETE,
    DEFAULT_CLEANUP_POLICY,
    DEFAULT_DELETE_RETENTION_MS,
    DEFAULT_INDEX_INTERVAL_BYTES,
    DEFAULT_MAX_COMPACTION_LAG_MS,
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_MESSAGE_TIMESTAMP_TYPE,
    DEFAULT_MIN_CLEANABLE_DIRTY_RATIO,
    DEFAULT_MIN_COMPACTION_LAG_MS,
    DEFAULT_MIN_INSYNC_REPLICAS,
    DEFAULT_RETENTION_BYTES,
    DEFAULT_RETENTION_MS,
    DEFAULT_SEGMENT_BYTES,
    DEFAULT_SEGMENT_MS,
    INT32_MAX,
    MIN_SEGMENT_BYTES,
)
from storage.errors import InvalidConfig

_LONG_MAX = 2**63 - 1


@dataclass(frozen=True)
class TopicConfig:
    """The topic configs kcli honours, with Kafka's defaults (``retention_ms`` is
    ``retention.ms``).  Build one with ``validate_config`` or ``config_from_user``."""

    retention_ms: int = DEFAULT_RETENTION_MS
    retention_bytes: int = DEFAULT_RETENTION_BYTES
    segment_bytes: int = DEFAULT_SEGMENT_BYTES
    segment_ms: int = DEFAULT_SEGMENT_MS
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    index_interval_bytes: int = DEFAULT_INDEX_INTERVAL_BYTES
    cleanup_policy: str = DEFAULT_CLEANUP_POLICY
    message_timestamp_type: str = DEFAULT_MESSAGE_TIMESTAMP_TYPE
    min_cleanable_dirty_ratio: float = DEFAULT_MIN_CLEANABLE_DIRTY_RATIO
    delete_retention_ms: int = DEFAULT_DELETE_RETENTION_MS
    min_compaction_lag_ms: int = DEFAULT_MIN_COMPACTION_LAG_MS
    max_compaction_lag_ms: int = DEFAULT_MAX_COMPACTION_LAG_MS
    min_insync_replicas: int = DEFAULT_MIN_INSYNC_REPLICAS

    @property
    def compacted(self) -> bool:
        """``cleanup.policy`` includes compact: the cleaner keeps the latest record per key."""
        return CLEANUP_POLICY_COMPACT in self.cleanup_policy.split(",")

    @property
    def deletes(self) -> bool:
        """``cleanup.policy`` includes delete: retention.ms and retention.bytes apply."""
        return "delete" in self.cleanup_policy.split(",")

    def to_kafka(self) -> dict[str, int | str]:
        """Every config with its effective value, under Kafka's names."""
        return {_kafka_name(name): value for name, value in asdict(self).items()}

    def with_overrides(self, overrides: dict[str, str]) -> TopicConfig:
        """A copy with ``overrides`` (Kafka names, string values as typed by a user) applied."""
        merged = self.to_kafka()
        merged.update(parse_overrides(overrides))
        return validate_config(merged)


def _kafka_name(attribute: str) -> str:
    return attribute.replace("_", ".")


CONFIG_KEYS: tuple[str, ...] = tuple(_kafka_name(f.name) for f in fields(TopicConfig))


@dataclass(frozen=True)
class Rule:
    """What a valid value of one config is: an integer in [minimum, maximum] counting
    ``unit``, or one of ``choices``; ``note`` ends the error message."""

    minimum: int = 0
    maximum: int = _LONG_MAX
    unit: str = ""
    choices: tuple[str, ...] = ()
    note: str = ""
    ratio: bool = False  # a number from minimum to maximum, not only an integer

    def check(self, value: object) -> bool:
        if self.choices:
            return value in self.choices
        if self.ratio:
            return type(value) in (int, float) and self.minimum <= value <= self.maximum
        return type(value) is int and self.minimum <= value <= self.maximum

    def must_be(self) -> str:
        if self.choices:
            text = " or ".join(self.choices)
        elif self.ratio:
            text = f"a number from {self.minimum} to {self.maximum}"
        elif self.maximum == _LONG_MAX:
            text = f"an integer of {self.unit} >= {self.minimum}"
        else:
            text = f"an integer of {self.unit} from {self.minimum} to {self.maximum}"
        return f"{text} ({self.note})" if self.note else text


RULES: dict[str, Rule] = {
    "retention.ms": Rule(-1, unit="milliseconds", note="-1 keeps records forever"),
    "retention.bytes": Rule(-1, unit="bytes per partition", note="-1 means no size limit"),
    "segment.bytes": Rule(MIN_SEGMENT_BYTES, INT32_MAX, unit="bytes"),
    "segment.ms": Rule(1, unit="milliseconds"),
    "max.message.bytes": Rule(0, INT32_MAX, unit="bytes"),
    "index.interval.bytes": Rule(0, INT32_MAX, unit="bytes"),
    "cleanup.policy": Rule(
        choices=("delete", CLEANUP_POLICY_COMPACT, CLEANUP_POLICY_COMPACT_DELETE),
        note="a comma-separated list of compact and delete",
    ),
    "message.timestamp.type": Rule(choices=("CreateTime", "LogAppendTime")),
    "min.cleanable.dirty.ratio": Rule(0, 1, ratio=True),
    "delete.retention.ms": Rule(0, unit="milliseconds", note="how long tombstones stay"),
    "min.compaction.lag.ms": Rule(0, unit="milliseconds"),
    "max.compaction.lag.ms": Rule(1, unit="milliseconds"),
    "min.insync.replicas": Rule(1, INT32_MAX, unit="replicas", note="acks=all needs this many in sync"),
}


def _normalize(key: str, value: object) -> object:
    """``delete,compact`` and ``compact, delete`` are Kafka's ``compact,delete``."""
    if key == "cleanup.policy" and isinstance(value, str) and "," in value:
        words = sorted({w.strip() for w in value.split(",")})
        return ",".join(words)
    return value


def _unknown(key: str) -> InvalidConfig:
    return InvalidConfig(f"unknown topic config '{key}'; valid keys are: {', '.join(CONFIG_KEYS)}")


def _invalid(key: str, value: object) -> InvalidConfig:
    return InvalidConfig(f"invalid value '{value}' for {key}: it must be {RULES[key].must_be()}")


def parse_overrides(overrides: dict[str, str]) -> dict[str, int | str]:
    """Check keys and convert numbers as typed by a user; ``validate_config`` checks ranges."""
    out: dict[str, int | str] = {}
    for key, raw in overrides.items():
        if key not in RULES:
            raise _unknown(key)
        value = raw.strip() if isinstance(raw, str) else raw
        if RULES[key].choices:
            out[key] = _normalize(key, str(value))
            continue
        try:
            out[key] = float(value) if RULES[key].ratio else int(value)
        except (TypeError, ValueError):
            raise _invalid(key, raw) from None
    return out


def validate_config(values: dict) -> TopicConfig:
    """A ``TopicConfig`` from Kafka-named values (missing keys take Kafka's defaults), or
    ``InvalidConfig`` naming the first bad key and what it must be."""
    values = {key: _normalize(key, value) for key, value in values.items()}
    for key, value in values.items():
        rule = RULES.get(key)
        if rule is None:
            raise _unknown(key)
        if not rule.check(value):
            raise _invalid(key, value)
    return TopicConfig(**{key.replace(".", "_"): value for key, value in values.items()})


def config_from_user(overrides: dict[str, str] | None) -> TopicConfig:
    """A topic config from user-typed ``KEY=VALUE`` overrides on top of Kafka's defaults."""
    return TopicConfig().with_overrides(overrides or {})
