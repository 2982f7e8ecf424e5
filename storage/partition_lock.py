"""Holding a partition's file lock (``<dir>/.lock``), as appends, retention, truncation and
repairs do, with its failures in the store's words: a missing directory, a lock held too
long by another process, a data directory that cannot be written."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path

from storage.constants import PARTITION_LOCK_FILE
from storage.errors import DataDirError, StorageError
from storage.flock import FileMutex, LockTimeout

LOCK_TIMEOUT_S = 30.0


@contextlib.contextmanager
def partition_locked(lock: FileMutex, directory: Path, name: str) -> Iterator[None]:
    """Hold ``lock``, the lock of partition ``name`` in ``directory``, for the block."""
    try:
        lock.acquire(timeout=LOCK_TIMEOUT_S)
    except FileNotFoundError:
        raise StorageError(
            f"partition directory {directory} is missing; the topic may have been deleted"
        ) from None
    except LockTimeout:
        raise StorageError(
            f"partition {name} is locked by another process for more than "
            f"{LOCK_TIMEOUT_S:.0f} s ({directory / PARTITION_LOCK_FILE})"
        ) from None
    except OSError as exc:
        if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise
        raise DataDirError(
            f"cannot write to {directory}: {os.strerror(exc.errno).lower()}; reads "
            f"work, writes need a writable data directory"
        ) from None
    try:
        yield
    finally:
        lock.release()
