"""The file descriptor a partition's ``Log`` appends to the active segment through, and how
much of what it wrote is durable.

Writes and fsyncs are counted: ``flush`` compares the counts, so that a flush whose writes an
earlier fsync already covered costs nothing, and flushes arriving during an fsync share the
next one (group commit).  ``Log`` owns one ``LogWriter`` and calls it under its own mutex,
which ``flush`` takes only around the counts: the fsync itself runs without it.
"""

from __future__ import annotations

import os
import threading

from storage.segment import Segment


class LogWriter:
    """Appends' descriptor on the active segment; writes made and writes known durable."""

    def __init__(self, mutex: threading.RLock):
        self._mutex = mutex  # the log's
        self._fd: int | None = None
        self._fd_base = -1
        self.writes = 0
        self.durable_writes = 0
        self._flush_lock = threading.Lock()

    def fd(self, active: Segment) -> int:
        """The descriptor to append to ``active`` through (opened when the segment changed)."""
        if self._fd_base != active.base_offset:
            self.close()
            self._fd = os.open(active.log_path, os.O_WRONLY | os.O_APPEND)
            self._fd_base = active.base_offset
        return self._fd

    def wrote(self, *, fsync: bool) -> None:
        """Count a write made through ``fd``; with ``fsync``, make it durable now."""
        self.writes += 1
        if fsync:
            os.fsync(self._fd)
            self.durable_writes = self.writes

    def close(self) -> None:
        """Make what was written durable and close the descriptor (a roll, a new directory)."""
        if self._fd is not None:
            if self.durable_writes < self.writes:
                os.fsync(self._fd)
                self.durable_writes = self.writes
            os.close(self._fd)
            self._fd = None
            self._fd_base = -1

    def abandon(self) -> None:
        """After a failed append that was rolled back: nothing of it is left to make durable."""
        self.durable_writes = self.writes
        try:
            self.close()
        except OSError:
            pass

    def flush(self) -> None:
        """fsync what was written with ``fsync=False``; see the module docstring."""
        with self._mutex:
            target = self.writes
        with self._flush_lock:
            with self._mutex:
                if self.durable_writes >= target:
                    return
                covered = self.writes
                fd = os.dup(self._fd)  # a roll may close the original meanwhile
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            with self._mutex:
                self.durable_writes = max(self.durable_writes, covered)
