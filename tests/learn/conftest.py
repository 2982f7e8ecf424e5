"""Every learn test keeps kcli's per-user state (which store a lesson was opened on) and
config (the ``cluster`` profile ``kcli cluster start`` writes) in its own directories, never
in the user's."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _own_state_dir(tmp_path, monkeypatch):
    state = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return state
