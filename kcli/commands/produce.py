"""`kcli produce`."""


def produce() -> None:
    """Produce records to a topic (being built)."""
