"""What the server counts: per connection and in total, for the live view and the logs."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class ConnectionStats:
    """One client connection as the live view shows it."""

    id: int
    peer: str
    host: str
    client_id: str = ""
    software: str = ""
    connected_at: float = field(default_factory=time.monotonic)
    requests: int = 0
    by_api: Counter = field(default_factory=Counter)
    bytes_in: int = 0
    bytes_out: int = 0
    records_in: int = 0
    records_out: int = 0
    last_api: str = ""
    waiting: str = ""  # the request being handled, if it is waiting (a long-polling Fetch ...)
    busy: bool = False  # between the first byte of a request and the end of its response

    @property
    def label(self) -> str:
        who = self.client_id or "?"
        return f"{who} ({self.peer})"


@dataclass
class ServerStats:
    """Totals since the server started."""

    started_at: float = field(default_factory=time.monotonic)
    connections_total: int = 0
    connections_refused: int = 0
    bad_connections: int = 0
    requests: int = 0
    records_in: int = 0
    records_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
