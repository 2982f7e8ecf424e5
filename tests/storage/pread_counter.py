"""Counting the store's reads: how many ``os.pread`` calls a read makes and how many bytes."""

from __future__ import annotations

import os


class PreadCounter:
    """Counts every ``os.pread`` while the test runs (``calls``, ``bytes``)."""

    def __init__(self, monkeypatch):
        self.calls = 0
        self.bytes = 0
        real = os.pread

        def counting_pread(fd, n, offset):
            data = real(fd, n, offset)
            self.calls += 1
            self.bytes += len(data)
            return data

        monkeypatch.setattr(os, "pread", counting_pread)
