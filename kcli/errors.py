"""Errors the command line reports as one ``Error:`` line (exit 1)."""


class KcliError(Exception):
    """A user-facing error raised by the CLI or client layer (not the storage engine)."""

    exit_code = 1


def client_error(exc: Exception) -> KcliError:
    """A client-API KafkaException as the CLI's one-line error."""
    error = exc.args[0] if exc.args else exc
    reason = error.str() if hasattr(error, "str") else str(error)
    return KcliError(reason)
