"""Letting a connection's next request in while an acks=all produce waits for its ISR.

The server handles one request of a connection at a time, in order, as Kafka does.  A cluster
leader's acks=all produce spends most of its time after its append, waiting for the followers
to fetch the records; a client such as librdkafka meanwhile keeps sending small produce
requests on the same connection (linger.ms=0, many in flight), which then queue in the socket
and wait a replication round trip each.  So once a produce request's records are appended, its
handler calls ``let_next_request_in()``: the server reads and appends the connection's next
request while this one waits, and still writes the responses in request order.  The appends
keep the order of the requests; only the waits overlap, and one follower fetch acknowledges
all the writes it covers.
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar

_released: ContextVar[asyncio.Future | None] = ContextVar("released", default=None)


def start_request(released: asyncio.Future) -> None:
    """Called by the server in the task that handles one request."""
    _released.set(released)


def let_next_request_in() -> None:
    """The request being handled has done everything that must happen before the next one
    starts (its appends); what it still does only delays its own response."""
    released = _released.get()
    if released is not None and not released.done():
        released.set_result(None)
