"""File-system calls the log needs done whole: ``writev`` of many buffers, resuming after
a short write, and fsync of a file or a directory (so a created, renamed or deleted file is
durable)."""

from __future__ import annotations

import os
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
