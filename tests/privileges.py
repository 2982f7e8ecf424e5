"""Tests that need root's mounts (a small tmpfs for a full disk, a read-only bind mount).

On a developer's machine without the privilege they skip, saying why; under CI (``CI`` set,
as ``.ci/run`` runs as root) the same condition is a failure, so these tests can never pass
there by not running.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def cannot_run_here(reason: str) -> NoReturn:
    """Skip with ``reason`` -- or, under CI, fail with it."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI runs as root: this must work there)")
    pytest.skip(reason)
