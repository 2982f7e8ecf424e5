"""Errors the command line reports as one ``Error:`` line (exit 1)."""


class KcliError(Exception):
    """A user-facing error raised by the CLI or client layer (not the storage engine)."""

    exit_code = 1
