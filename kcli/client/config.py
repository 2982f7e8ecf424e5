"""Config dictionaries, as confluent-kafka takes them: dotted librdkafka/Kafka keys."""

from __future__ import annotations

from pathlib import Path

from kcli.client.data_dir import resolve_data_dir
from kcli.client.types import KafkaError, KafkaException

# Keys a script written for confluent-kafka commonly sets that mean nothing for a local store;
# (bootstrap.servers is not one of them: with it, kcli.Producer & co. talk to that cluster)
# they are accepted and ignored so the same script runs against both.
IGNORED_KEYS = frozenset(
    {
        "security.protocol",
        "sasl.mechanism",
        "sasl.mechanisms",
        "sasl.username",
        "sasl.password",
        "ssl.ca.location",
        "acks",
        "linger.ms",
        "batch.size",
        "batch.num.messages",
        "compression.type",
        "compression.codec",
        "enable.idempotence",
        "retries",
        "message.send.max.retries",
        "retry.backoff.ms",
        "request.timeout.ms",
        "delivery.timeout.ms",
        "message.timeout.ms",
        "queue.buffering.max.messages",
        "queue.buffering.max.kbytes",
        "queue.buffering.max.ms",
        "socket.timeout.ms",
        "api.version.request",
        "broker.version.fallback",
        "statistics.interval.ms",
        "debug",
        "log_level",
        "fetch.min.bytes",
        "fetch.wait.max.ms",
        "isolation.level",
        "max.poll.interval.ms",
        "group.instance.id",
        "partitioner",
        "topic.metadata.refresh.interval.ms",
        "allow.auto.create.topics",
        "error_cb",
        "stats_cb",
        "throttle_cb",
        "logger",
    }
)


def data_dir_of(conf: dict) -> Path:
    """The store a client uses: ``data.dir`` (kcli's own key) or the CLI's default."""
    return resolve_data_dir(conf.get("data.dir"))


def check_keys(conf: dict, known: frozenset[str], kind: str) -> None:
    for key in conf:
        if key not in known and key not in IGNORED_KEYS:
            raise KafkaException(
                KafkaError(
                    KafkaError._INVALID_ARG,
                    f'No such configuration property: "{key}" (valid {kind} keys: '
                    f"{', '.join(sorted(known))})",
                )
            )


def as_bool(conf: dict, key: str, default: bool) -> bool:
    value = conf.get(key, default)
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise KafkaException(
        KafkaError(KafkaError._INVALID_ARG, f'Invalid value "{value}" for {key}: use true or false')
    )


def as_int(conf: dict, key: str, default: int, minimum: int = 0) -> int:
    value = conf.get(key, default)
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if number is None or number < minimum:
        raise KafkaException(
            KafkaError(
                KafkaError._INVALID_ARG,
                f'Invalid value "{value}" for {key}: use a whole number >= {minimum}',
            )
        )
    return number
