"""The broker configs ``kcli serve`` honours, under Kafka's names where Kafka has one."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kcli.errors import KcliError
from kcli.serve.protocol import DEFAULT_MAX_REQUEST_BYTES, MIN_REQUEST_BYTES
from kcli.serve.server_assignors import SERVER_ASSIGNORS

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9092
# The one broker's id, as every Metadata and FindCoordinator response names it.
NODE_ID = 0
_INT32_MAX = 2**31 - 1
_LISTENER = re.compile(r"^PLAINTEXT://(?P<host>\[[^\]]+\]|[^:/\[\]]+):(?P<port>\d{1,5})$")


class BrokerConfig(BaseModel):
    """Broker settings, set with ``kcli serve --config KEY=VALUE`` (Kafka's names and defaults).

    ``request.read.timeout.ms``, ``connection.first.request.timeout.ms`` and the defaults of
    ``queued.max.request.bytes`` and ``max.connections.per.ip`` are kcli's own: Kafka lets a slow
    client trickle a request forever, keeps a connection that never sends anything for
    ``connections.max.idle.ms`` and buffers requests without limit; kcli serve closes a
    connection whose request frame does not arrive whole within the timeout, or that has not
    completed its first request within ``connection.first.request.timeout.ms`` (and, when
    ``max.connections`` is reached, closes the oldest such connection to let a new client in),
    and stops reading new frames while that many bytes of requests are in memory.
    """

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    num_partitions: int = Field(1, alias="num.partitions", ge=1, le=10_000)
    auto_create_topics_enable: bool = Field(True, alias="auto.create.topics.enable")
    socket_request_max_bytes: int = Field(
        DEFAULT_MAX_REQUEST_BYTES,
        alias="socket.request.max.bytes",
        ge=MIN_REQUEST_BYTES,
        le=_INT32_MAX,
    )
    queued_max_request_bytes: int = Field(
        2 * DEFAULT_MAX_REQUEST_BYTES, alias="queued.max.request.bytes", ge=-1
    )
    connections_max_idle_ms: int = Field(600_000, alias="connections.max.idle.ms", ge=1)
    request_read_timeout_ms: int = Field(30_000, alias="request.read.timeout.ms", ge=1)
    max_connections: int = Field(1000, alias="max.connections", ge=1)
    max_connections_per_ip: int = Field(500, alias="max.connections.per.ip", ge=1)
    connection_first_request_timeout_ms: int = Field(
        10_000, alias="connection.first.request.timeout.ms", ge=1
    )
    num_io_threads: int = Field(8, alias="num.io.threads", ge=1, le=256)
    group_initial_rebalance_delay_ms: int = Field(
        3000, alias="group.initial.rebalance.delay.ms", ge=0
    )
    group_min_session_timeout_ms: int = Field(6000, alias="group.min.session.timeout.ms", ge=1)
    group_max_session_timeout_ms: int = Field(1_800_000, alias="group.max.session.timeout.ms", ge=1)
    # The consumer protocol (KIP-848): the broker, not the client, sets both.
    group_consumer_session_timeout_ms: int = Field(
        45_000, alias="group.consumer.session.timeout.ms", ge=1
    )
    group_consumer_heartbeat_interval_ms: int = Field(
        5000, alias="group.consumer.heartbeat.interval.ms", ge=1
    )
    group_consumer_assignors: str = Field("uniform,range", alias="group.consumer.assignors")
    offset_metadata_max_bytes: int = Field(4096, alias="offset.metadata.max.bytes", ge=0)
    # Where clients are told to connect (Metadata, FindCoordinator) when that is not the
    # address kcli serve listens on: behind a port forward, a proxy or a container.
    advertised_listeners: str = Field("", alias="advertised.listeners")

    @field_validator("group_consumer_assignors")
    @classmethod
    def _known_assignors(cls, value: str) -> str:
        names = [a.strip() for a in value.split(",")]
        unknown = [a for a in names if a not in SERVER_ASSIGNORS]
        if unknown or not names:
            raise ValueError(
                f"must list server assignors among {', '.join(SERVER_ASSIGNORS)}, "
                f"comma-separated (not {', '.join(unknown) or 'nothing'})"
            )
        return value

    @field_validator("advertised_listeners")
    @classmethod
    def _one_plaintext_listener(cls, value: str) -> str:
        if value and not _LISTENER.match(value):
            raise ValueError("must be one listener like PLAINTEXT://host:port")
        return value

    def advertised_address(self) -> tuple[str, int] | None:
        """(host, port) from advertised.listeners, or None when it is not set."""
        match = _LISTENER.match(self.advertised_listeners)
        if match is None:
            return None
        return match["host"].strip("[]"), int(match["port"])

    def to_kafka(self) -> dict[str, int | bool]:
        """Every config with its value, under Kafka's names."""
        return self.model_dump(by_alias=True)


BROKER_CONFIG_KEYS: tuple[str, ...] = tuple(
    f.alias for f in BrokerConfig.model_fields.values() if f.alias
)


def broker_config(overrides: dict[str, str]) -> BrokerConfig:
    """A BrokerConfig from ``KEY=VALUE`` strings; KcliError naming the bad key or value."""
    for key in overrides:
        if key not in BROKER_CONFIG_KEYS:
            raise KcliError(
                f"unknown broker config '{key}'; valid keys are: {', '.join(BROKER_CONFIG_KEYS)}"
            )
    try:
        return BrokerConfig.model_validate(overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = str(error["loc"][0]) if error.get("loc") else "?"
        message = error["msg"].removeprefix("Value error, ")
        message = message[:1].lower() + message[1:]
        raise KcliError(
            f"invalid value '{error.get('input')}' for broker config {key}: {message}"
        ) from None
