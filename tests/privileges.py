"""Tests that need what a developer's machine may lack: root's mounts (a small tmpfs for a full
disk, a read-only bind mount), Node.js for the JavaScript clients, the spark extra.

Without it they skip, saying why; under CI (``CI`` set: ``.ci/run`` runs as root and installs
all of these) the same condition is a failure, so no test can pass there by not running.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def cannot_run_here(reason: str) -> NoReturn:
    """Skip with ``reason`` -- or, under CI, fail with it."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (.ci/run provides it: under CI this must work)", pytrace=False)
    pytest.skip(reason, allow_module_level=True)
