"""Producer ids for InitProducerId (idempotent producers).

A producer id must never be handed out twice for the same data directory, or the log could
take a new producer's first batch for a duplicate of an old one's.  The store allocates them
(``Store.next_producer_id``, a durable counter).  A store without that allocator gets ids
derived from the wall clock in milliseconds times 1024 plus a counter: still unique across
restarts of the server, as long as the clock does not run backwards.
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
    if not callable(allocate):
        return ClockProducerIds()
    # The store's lock file keeps processes apart, not threads of one process.
    mutex = threading.Lock()

    def next_producer_id() -> int:
        with mutex:
            return allocate()

    return next_producer_id
