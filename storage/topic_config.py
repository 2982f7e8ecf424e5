"""Topic configs: Kafka's keys, Kafka's defaults, validated with pydantic."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

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


class TopicConfig(BaseModel):
    """The topic configs kcli honours, named as in Kafka (``retention.ms`` ...)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    retention_ms: int = Field(DEFAULT_RETENTION_MS, alias="retention.ms", ge=-1, le=_LONG_MAX)
    retention_bytes: int = Field(
        DEFAULT_RETENTION_BYTES, alias="retention.bytes", ge=-1, le=_LONG_MAX
    )
    segment_bytes: int = Field(
        DEFAULT_SEGMENT_BYTES, alias="segment.bytes", ge=MIN_SEGMENT_BYTES, le=INT32_MAX
    )
    segment_ms: int = Field(DEFAULT_SEGMENT_MS, alias="segment.ms", ge=1, le=_LONG_MAX)
    max_message_bytes: int = Field(
        DEFAULT_MAX_MESSAGE_BYTES, alias="max.message.bytes", ge=0, le=INT32_MAX
    )
    index_interval_bytes: int = Field(
        DEFAULT_INDEX_INTERVAL_BYTES, alias="index.interval.bytes", ge=0, le=INT32_MAX
    )
    cleanup_policy: Literal["delete"] = Field(DEFAULT_CLEANUP_POLICY, alias="cleanup.policy")
    message_timestamp_type: Literal["CreateTime", "LogAppendTime"] = Field(
        DEFAULT_MESSAGE_TIMESTAMP_TYPE, alias="message.timestamp.type"
    )

    def to_kafka(self) -> dict[str, int | str]:
        """Every config with its effective value, under Kafka's names."""
        return self.model_dump(by_alias=True)

    def with_overrides(self, overrides: dict[str, str]) -> TopicConfig:
        """A copy with ``overrides`` (Kafka names, string values as typed by a user) applied."""
        merged = dict(self.to_kafka())
        merged.update(parse_overrides(overrides))
        return validate_config(merged)


CONFIG_KEYS: tuple[str, ...] = tuple(
    field.alias for field in TopicConfig.model_fields.values() if field.alias
)

_HELP = {
    "retention.ms": "an integer of milliseconds >= -1 (-1 keeps records forever)",
    "retention.bytes": "an integer of bytes per partition >= -1 (-1 means no size limit)",
    "segment.bytes": f"an integer of bytes from {MIN_SEGMENT_BYTES} to {INT32_MAX}",
    "segment.ms": "an integer of milliseconds >= 1",
    "max.message.bytes": f"an integer of bytes from 0 to {INT32_MAX}",
    "index.interval.bytes": f"an integer of bytes from 0 to {INT32_MAX}",
    "cleanup.policy": "delete (kcli does not implement log compaction)",
    "message.timestamp.type": "CreateTime or LogAppendTime",
}


def parse_overrides(overrides: dict[str, str]) -> dict[str, int | str]:
    """Check keys and convert numbers; the model then checks ranges."""
    out: dict[str, int | str] = {}
    for key, raw in overrides.items():
        if key not in CONFIG_KEYS:
            raise InvalidConfig(
                f"unknown topic config '{key}'; valid keys are: {', '.join(CONFIG_KEYS)}"
            )
        value = raw.strip() if isinstance(raw, str) else raw
        if key in ("cleanup.policy", "message.timestamp.type"):
            out[key] = str(value)
            continue
        try:
            out[key] = int(value)
        except (TypeError, ValueError):
            raise InvalidConfig(
                f"invalid value '{raw}' for {key}: it must be {_HELP[key]}"
            ) from None
    return out


def validate_config(values: dict) -> TopicConfig:
    try:
        return TopicConfig.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = str(error["loc"][0]) if error.get("loc") else "?"
        bad = error.get("input")
        if key not in _HELP:
            raise InvalidConfig(
                f"unknown topic config '{key}'; valid keys are: {', '.join(CONFIG_KEYS)}"
            ) from None
        raise InvalidConfig(f"invalid value '{bad}' for {key}: it must be {_HELP[key]}") from None


def config_from_user(overrides: dict[str, str] | None) -> TopicConfig:
    """A topic config from user-typed ``KEY=VALUE`` overrides on top of Kafka's defaults."""
    return TopicConfig().with_overrides(overrides or {})
