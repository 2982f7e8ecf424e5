"""Waiting for a condition, for the tests and the benchmarks (no pytest needed).

A benchmark imports it with the repository's root on ``sys.path``
(``from tests.waiting import wait_for``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# Generous: the machine may be busy with other test runs.
WAIT_S = 60.0


def wait_for(
    condition: Callable[[], T], what: str, timeout: float = WAIT_S, interval: float = 0.05
) -> T:
    """Poll ``condition`` every ``interval`` seconds until it returns something truthy, and
    return that; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
