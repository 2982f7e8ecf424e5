"""File-system calls the store needs done whole: ``writev`` of many buffers, resuming after
a short write; fsync of a file or a directory (so a created, renamed or deleted file is
durable); and replacing a file atomically, as Kafka writes its checkpoints."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

try:
    _IOV_MAX = min(os.sysconf("SC_IOV_MAX"), 1024)
except (AttributeError, ValueError, OSError):
    _IOV_MAX = 16


def writev_all(fd: int, iov: list) -> None:
    """``writev`` in groups of IOV_MAX buffers, resuming after a short write."""
    while iov:
        group = iov[:_IOV_MAX]
        want = sum(len(b) for b in group)
        written = os.writev(fd, group)
        if written == want:
            del iov[: len(group)]
            continue
        # A short write (a full disk, a signal): skip what was written and go on.
        while written:
            first = iov[0]
            if written >= len(first):
                written -= len(first)
                del iov[0]
            else:
                iov[0] = memoryview(first)[written:]
                written = 0


def fsync_file(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Replace ``path`` with ``data``: temp file, fsync, rename, fsync the directory.

    A reader sees the old file or the new one, never a mix.  ``durable=False`` skips both
    fsyncs, for state that is rewritten every few seconds and may be lost in a machine crash.
    """
    # A short temp name: "<249-character topic>.json" plus a suffix would pass NAME_MAX (255).
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide the file from other users
        with open(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)
