"""What a producer checks before it queues a record, for both producers (kcli.local and
kcli.remote): the same rules, the same KafkaException, the same words.

A record is refused at ``produce()`` time for a partition the topic does not have, a
timestamp that is not milliseconds since the epoch, or a size over the topic's
``max.message.bytes`` (measured exactly, as a one-record batch, only when a cheap estimate
says it might be over).  Keys, values and headers are taken as confluent-kafka takes them.
"""

from __future__ import annotations

from kcli.client.types import (
    KafkaError,
    KafkaException,
    invalid_timestamp_message,
    timestamp_is_valid,
)
from storage.errors import partition_not_found_message, record_too_large_message
from storage.records import ProducerRecord, encode_batch

# A record's bytes in a batch besides its key, value and headers: length, attributes,
# timestamp delta, offset delta and the three length varints, at their largest.
RECORD_OVERHEAD = 1 + 5 + 10 + 5 + 5 + 5 + 5
BATCH_HEADER_SIZE = 61
# What a header costs besides its key and value bytes, at the most.
HEADER_OVERHEAD = 10


def as_bytes(data, what: str) -> bytes:
    """``str`` as UTF-8, bytes-like as bytes; TypeError for anything else."""
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"{what} must be str or bytes (or None), not {type(data).__name__}")


def normalize_headers(headers) -> tuple[tuple[str, bytes | None], ...]:
    """confluent-kafka's header forms (a dict or a list of (key, value) pairs) as pairs of
    ``str`` key and ``bytes`` (or None) value."""
    items = headers.items() if isinstance(headers, dict) else headers
    out = []
    for item in items:
        try:
            hkey, hvalue = item
        except (TypeError, ValueError):
            raise TypeError(
                f"headers must be a dict or a list of (key, value); got {item!r}"
            ) from None
        if not isinstance(hkey, str):
            raise TypeError(f"header key must be a str, not {type(hkey).__name__}")
        if hvalue is not None and hvalue.__class__ is not bytes:
            hvalue = as_bytes(hvalue, f"header '{hkey}' value")
        out.append((hkey, hvalue))
    return tuple(out)


def headers_size(headers) -> int:
    """The bytes ``headers`` (normalized) add to a record, at the most."""
    return sum(len(k.encode()) + (0 if v is None else len(v)) + HEADER_OVERHEAD for k, v in headers)


def size_limit(max_bytes: int) -> int:
    """The key + value + headers bytes under which a record surely fits ``max_bytes``."""
    return max_bytes - RECORD_OVERHEAD - BATCH_HEADER_SIZE


def check_partition(topic: str, partitions: int, partition: int) -> None:
    if partition >= partitions:
        raise KafkaException(
            KafkaError(
                KafkaError._UNKNOWN_PARTITION,
                partition_not_found_message(topic, partitions, partition),
            )
        )


def check_timestamp(timestamp) -> None:
    """A given timestamp (not 0 or None, which mean now) must be ms since the epoch, up to
    9999-12-31 (kcli.client.types.timestamp_is_valid)."""
    if timestamp and not timestamp_is_valid(timestamp):
        raise KafkaException(
            KafkaError(KafkaError._INVALID_ARG, invalid_timestamp_message(timestamp))
        )


def check_size(topic: str, max_bytes: int, value, key, headers) -> None:
    """The exact size of the record as a one-record batch, against max.message.bytes."""
    record = ProducerRecord(value, key, tuple(headers or ()), 0)
    size = len(encode_batch([record], timestamp=0))
    if size > max_bytes:
        raise KafkaException(
            KafkaError(
                KafkaError.MSG_SIZE_TOO_LARGE, record_too_large_message(topic, size, max_bytes)
            )
        )


def prepared_record(value, key, partition: int, headers, partitions: int, round_robin, by_key=None):
    """A record as both producers queue it: ``(value, key, partition, headers, size)``, with the
    value and key as bytes, the headers normalized, and ``size`` the bytes the three add.

    The partition is the one given (``check_record`` refuses one the topic does not have),
    else the only one, else for no key the next by round-robin (``storage.RoundRobin``), else
    ``by_key(key, partitions)``, or -1 without ``by_key``: the client's partitioner picks it.
    """
    if value is not None and value.__class__ is not bytes:
        value = as_bytes(value, "value")
    if key is not None and key.__class__ is not bytes:
        key = as_bytes(key, "key")
    if partition < 0:
        if partitions == 1:
            partition = 0
        elif key is None:
            partition = round_robin.partition(partitions)
        elif by_key is not None:
            partition = by_key(key, partitions)
    size = 0 if value is None else len(value)
    if key is not None:
        size += len(key)
    if headers:
        headers = normalize_headers(headers)
        size += headers_size(headers)
    else:
        headers = ()
    return value, key, partition, headers, size


def check_record(topic: str, partitions: int, max_bytes: int | None, record, timestamp) -> None:
    """Refuse a ``prepared_record`` (raise KafkaException) for a partition the topic does not
    have, then a bad timestamp, then a size over ``max_bytes`` (max.message.bytes; None when
    the cluster does not say: not checked).  The slow checks run only where a fast test says
    one may fail."""
    value, key, partition, headers, size = record
    too_large = max_bytes is not None and size > size_limit(max_bytes)
    if partition < partitions and not timestamp and not too_large:
        return
    check_partition(topic, partitions, partition)
    check_timestamp(timestamp)
    if too_large:
        check_size(topic, max_bytes, value, key, headers)
