"""Kafka's protocol error codes for the storage engine's errors.

The handlers answer a failed request with the code a Kafka client expects for the
``StorageError`` behind it; the mapping itself is kcli.client.error_codes', shared with the
client API.
"""

from __future__ import annotations

from kcli.client.error_codes import kafka_error_code
from kcli.serve.protocol import ErrorCode
from storage import StorageError


def error_code(exc: BaseException) -> ErrorCode:
    """The Kafka error code for a storage error."""
    return ErrorCode(kafka_error_code(exc, default=ErrorCode.UNKNOWN_SERVER_ERROR))


def group_error_code(exc: StorageError) -> int:
    """Kafka's error code for a GroupStore error."""
    return kafka_error_code(exc, default=ErrorCode.UNKNOWN_SERVER_ERROR)
