"""Topic configs: Kafka's keys, Kafka's defaults, and what makes a value valid.

A ``TopicConfig`` is a frozen dataclass whose attributes are Kafka's config names with dots
as underscores (``retention.ms`` is ``retention_ms``).  Every way in goes through
``validate_config``, so a ``TopicConfig`` always holds valid values: user input
(``kcli topic create --config``, CreateTopics over the wire) and the overrides stored in a
topic's metadata file, every time it is read.

The rules are a table (``RULES``), checked by hand rather than by a pydantic model: there are
eight keys, each an integer in a range or one of a few words, and the table is also what the
error messages quote.  A pydantic model did the same job but cost every kcli command about
100 ms of start-up, just to import pydantic's model machinery.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from storage.constants import (
    DEFAULT_CLEANUP_POLICY,
    DEFAULT_INDEX_INTERVAL_BYTES,
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_MESSAGE_TIMESTAMP_TYPE,
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

    def check(self, value: object) -> bool:
        if self.choices:
            return value in self.choices
        return type(value) is int and self.minimum <= value <= self.maximum

    def must_be(self) -> str:
        if self.choices:
            text = " or ".join(self.choices)
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
    "cleanup.policy": Rule(choices=("delete",), note="kcli does not implement log compaction"),
    "message.timestamp.type": Rule(choices=("CreateTime", "LogAppendTime")),
}


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
            out[key] = str(value)
            continue
        try:
            out[key] = int(value)
        except (TypeError, ValueError):
            raise _invalid(key, raw) from None
    return out


def validate_config(values: dict) -> TopicConfig:
    """A ``TopicConfig`` from Kafka-named values (missing keys take Kafka's defaults), or
    ``InvalidConfig`` naming the first bad key and what it must be."""
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
