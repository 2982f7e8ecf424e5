"""An exclusive lock shared by processes: ``flock(2)`` on a descriptor kept open.

The append path takes its partition's lock once per append.  filelock (used for the rarer
store and group locks) opens, locks, unlocks and closes the lock file on every acquire, which
costs about half a millisecond here, as much as encoding a few hundred records; this lock
keeps the descriptor open and costs one ``flock`` call.  The lock is released by the kernel
when the process dies, so a killed writer never leaves a partition locked.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path


class LockTimeout(Exception):
    """The lock stayed held by another process for longer than the timeout."""


class FileMutex:
    """Exclusive, non-reentrant across processes; callers serialise their own threads."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fd: int | None = None
        self._pid = -1

    def acquire(self, timeout: float) -> None:
        deadline = None
        delay = 0.0002
        while True:
            fd = self._descriptor()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                now = time.monotonic()
                if deadline is None:
                    deadline = now + timeout
                elif now >= deadline:
                    raise LockTimeout(str(self.path)) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.005)
                continue
            if self._is_current(fd):
                return
            # The file was replaced (its directory deleted and created again): the lock
            # other processes take now is on the new file.
            fcntl.flock(fd, fcntl.LOCK_UN)
            self.close()

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; never wait."""
        fd = self._descriptor()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        if self._is_current(fd):
            return True
        fcntl.flock(fd, fcntl.LOCK_UN)
        self.close()
        return False

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _descriptor(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            # After a fork the inherited descriptor shares the parent's lock: open our own.
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            self._pid = os.getpid()
        return self._fd

    def _is_current(self, fd: int) -> bool:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False
        own = os.fstat(fd)
        return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)
