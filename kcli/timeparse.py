"""Points in time as users type them: ISO-8601, relative durations, or epoch milliseconds.

Used by ``kcli consume --from-time`` and ``kcli group reset --to-datetime``.  Every form
becomes milliseconds since the epoch, the unit of Kafka's record timestamps:

* ISO-8601: ``2024-05-01``, ``2024-05-01T10:30``, ``2024-05-01T10:30:00.250+02:00``,
  ``2024-05-01T08:30:00Z``.  Without a zone the time is local, as in Kafka's
  ``kafka-consumer-groups --to-datetime``.
* A duration before now: ``-10s``, ``-30m``, ``-1h``, ``-2d``, ``-1w``, ``-500ms``; also
  combined, ``-1h30m``.
* ``now``, or a whole number of milliseconds since the epoch (``1714550400000``).
"""

from __future__ import annotations

import re
import time
from datetime import datetime

from kcli.client.types import MAX_TIMESTAMP_MS
from kcli.errors import KcliError

_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_RELATIVE = re.compile(r"^-((?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+)$")

_EPOCH_DIGITS = re.compile(r"\d+", re.ASCII)

EXAMPLES = (
    "ISO-8601 (2024-05-01T10:30:00Z), a duration before now (-10s, -30m, -1h, -2d) or epoch ms"
)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def parse_duration_ms(text: str) -> int:
    """``1h30m`` -> 5400000.  Raises KcliError for anything else."""
    body = text.strip().lower()
    parts = _PART.findall(body)
    if not parts or "".join(n + u for n, u in parts) != body:
        raise KcliError(f"invalid duration '{text}': use a number and a unit (ms, s, m, h, d, w)")
    return int(sum(float(n) * _UNIT_MS[u] for n, u in parts))


def parse_time(text: str, *, now: int | None = None) -> int:
    """Milliseconds since the epoch for ``text`` (see the module docstring for the forms)."""
    raw = text.strip()
    if not raw:
        raise KcliError(f"empty time: use {EXAMPLES}")
    reference = now_ms() if now is None else now
    lowered = raw.lower()
    if lowered == "now":
        return reference
    match = _RELATIVE.match(lowered)
    if match:
        return _in_range(reference - parse_duration_ms(match.group(1)), text)
    if _EPOCH_DIGITS.fullmatch(raw):
        return _in_range(int(raw), text)
    if re.fullmatch(r"\+?\d+(?:\.\d+)?(?:ms|s|m|h|d|w)", lowered):
        raise KcliError(
            f"invalid time '{text}': a relative time counts back from now and needs a minus "
            f"sign, e.g. -{lowered.lstrip('+')}"
        )
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise KcliError(f"invalid time '{text}': use {EXAMPLES}") from None
    try:
        if moment.tzinfo is None:
            moment = moment.astimezone()  # local time, as Kafka's tools read a zone-less time
        ms = int(moment.timestamp() * 1000)
    except (OverflowError, OSError, ValueError):  # a year the platform's clock cannot reach
        ms = -1 if moment.year < 1970 else MAX_TIMESTAMP_MS + 1
    return _in_range(ms, text)


def _in_range(ms: int, text: str) -> int:
    """``ms`` if a record timestamp can be that; a KcliError saying the range otherwise."""
    if ms < 0:
        raise KcliError(
            f"time '{text}' is before 1970-01-01T00:00:00Z: record timestamps are milliseconds "
            f"since the epoch, 0 or more (to read from the first record use --from-beginning)"
        )
    if ms > MAX_TIMESTAMP_MS:
        raise KcliError(
            f"time '{text}' is after 9999-12-31T23:59:59.999Z, the latest time kcli accepts "
            f"({MAX_TIMESTAMP_MS} ms)"
        )
    return ms


def format_ms(ms: int) -> str:
    """A record timestamp for people: local ISO-8601 with milliseconds, or '-' if unset."""
    if ms is None or ms < 0:
        return "-"
    try:
        return datetime.fromtimestamp(ms / 1000).astimezone().isoformat(timespec="milliseconds")
    except (OverflowError, OSError, ValueError):  # beyond what a date can show: the number
        return f"{ms} ms"
