"""Producer ids for InitProducerId (idempotent producers).

A producer id must never be handed out twice for the same data directory, or the log could
take a new producer's first batch for a duplicate of an old one's.  When the store allocates
ids itself (``Store.next_producer_id``), that is what is used.  Otherwise ids are derived from
the wall clock in milliseconds times 1024 plus a counter: still unique across restarts of the
server, as long as the clock does not run backwards.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class ClockProducerIds:
    """Increasing producer ids from the wall clock; see the module docstring."""

    def __init__(self) -> None:
        self._last = 0
        self._mutex = threading.Lock()

    def __call__(self) -> int:
        with self._mutex:
            candidate = int(time.time() * 1000) * 1024
            self._last = max(candidate, self._last + 1)
            return self._last


def producer_id_allocator(store) -> Callable[[], int]:
    """The store's own allocator if it has one, else clock-derived ids."""
    allocate = getattr(store, "next_producer_id", None)
    if callable(allocate):
        return allocate
    return ClockProducerIds()
