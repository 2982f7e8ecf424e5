"""`kcli consume`."""


def consume() -> None:
    """Consume records from a topic (being built)."""
