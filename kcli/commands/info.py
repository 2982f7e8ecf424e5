"""`kcli info`."""


def info() -> None:
    """Show the version, the data directory, topic count and total size (being built)."""
