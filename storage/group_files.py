"""A store's consumer-group files: where each group's lives, its lock, its state file (read
without a lock, re-read only when it changed), the clock and this host.

``GroupFiles`` owns them; each part of the group store (``GroupMembership``,
``CommittedOffsets``, ``GroupResets``, ``ServeGroups``) is given the same one and works
through it (see ``storage.groups``).
"""

from __future__ import annotations

import json
import os
import socket
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock, Timeout

from storage.errors import StorageError
from storage.group_types import (
    COORDINATOR_SERVE,
    LOCK_TIMEOUT_S,
    OFFSETS_FILE,
    STATE_FILE,
    _copy_state,
    _GroupState,
    _write_json,
    group_dir_name,
    validate_group_id,
)

if TYPE_CHECKING:
    from storage.store import Store


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


class GroupFiles:
    """The group files of one store, their locks and a cache of parsed state files."""

    def __init__(self, store: Store, clock=None):
        self.store = store
        self.clock = clock or store.clock
        self.groups_dir = store.groups_dir
        self.groups_dir.mkdir(parents=True, exist_ok=True)
        self.host = socket.gethostname()
        self._locks: dict[str, FileLock] = {}
        self._locks_mutex = threading.Lock()
        self._state_cache: dict[str, tuple[tuple[int, int, int], _GroupState]] = {}
        self._state_paths: dict[str, Path] = {}

    def group_path(self, group: str) -> Path:
        validate_group_id(group)
        return self.groups_dir / group_dir_name(group)

    def lock(self, group: str) -> _Locked:
        with self._locks_mutex:
            lock = self._locks.get(group)
            if lock is None:
                path = self.groups_dir / f".{group_dir_name(group)}.lock"
                lock = FileLock(str(path), timeout=LOCK_TIMEOUT_S)
                self._locks[group] = lock
        return _Locked(lock, group)

    def read_state(self, group: str, *, copy: bool = True) -> _GroupState | None:
        """The group's state file, parsed; re-read only when it changed.  ``copy=False`` hands
        out the cached object itself, for callers that only read it."""
        path = self._state_paths.get(group)
        if path is None:
            path = self._state_paths[group] = self.group_path(group) / STATE_FILE
        try:
            st = os.stat(path)
        except FileNotFoundError:
            self._state_cache.pop(group, None)
            return None
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        cached = self._state_cache.get(group)
        if cached is not None and cached[0] == key:
            return _copy_state(cached[1]) if copy else cached[1]
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise StorageError(
                f"{path} is not valid JSON ({exc}); delete it to reset the group"
            ) from None
        try:
            state = _GroupState.from_json(raw)
        except (KeyError, TypeError, ValueError) as exc:
            raise StorageError(f"{path} is not a kcli group state file ({exc})") from None
        self._state_cache[group] = (key, state)
        return _copy_state(state) if copy else state

    def write_state(self, state: _GroupState, *, durable: bool = True) -> None:
        d = self.group_path(state.group)
        d.mkdir(exist_ok=True)
        _write_json(d / STATE_FILE, state.to_json(), durable=durable)

    def exists(self, group: str) -> bool:
        d = self.group_path(group)
        return (d / STATE_FILE).exists() or (d / OFFSETS_FILE).exists()

    def now(self) -> int:
        return self.clock.now_ms()

    def forget(self, group: str) -> None:
        """Drop the cached state of a group whose files were removed."""
        self._state_cache.pop(group, None)

    def external_alive(self, state: _GroupState) -> bool:
        """Whether the kcli serve that published a group's snapshot still runs (as far as
        this host can tell)."""
        ext = state.external
        if state.coordinator != COORDINATOR_SERVE or not ext:
            return False
        if ext.get("host") != self.host:
            return True  # another machine's process: nothing here can tell it has stopped
        return _pid_alive(int(ext.get("pid", 0)))

    def live_members(self, state: _GroupState) -> int:
        if state.coordinator == COORDINATOR_SERVE:
            ext = state.external
            if ext.get("pid") == os.getpid() and ext.get("host") == self.host:
                return 0  # the caller is the coordinator that published the snapshot
            return len(ext.get("members", [])) if self.external_alive(state) else 0
        return len(state.members)


class GroupPart:
    """A part of the group store (membership, offsets, resets, serve), working through the
    store's one ``GroupFiles``: the names below are that object's, nothing of the part's own."""

    def __init__(self, files: GroupFiles):
        self._files = files

    @property
    def store(self) -> Store:
        return self._files.store

    @property
    def host(self) -> str:
        return self._files.host

    def group_path(self, group: str) -> Path:
        return self._files.group_path(group)

    def _lock(self, group: str) -> _Locked:
        return self._files.lock(group)

    def _read_state(self, group: str, *, copy: bool = True) -> _GroupState | None:
        return self._files.read_state(group, copy=copy)

    def _write_state(self, state: _GroupState, *, durable: bool = True) -> None:
        self._files.write_state(state, durable=durable)

    def _exists(self, group: str) -> bool:
        return self._files.exists(group)

    def _now(self) -> int:
        return self._files.now()

    def _external_alive(self, state: _GroupState) -> bool:
        return self._files.external_alive(state)

    def _live_members(self, state: _GroupState) -> int:
        return self._files.live_members(state)


class _Locked:
    def __init__(self, lock: FileLock, group: str):
        self._lock = lock
        self._group = group

    def __enter__(self):
        try:
            self._lock.acquire(poll_interval=0.002)
        except Timeout:
            raise StorageError(
                f"group '{self._group}' is locked by another process ({self._lock.lock_file}); "
                f"try again"
            ) from None
        return self

    def __exit__(self, *exc):
        self._lock.release()
