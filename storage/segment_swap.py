"""Swapping a cleaned segment in for the old one, atomically, as Kafka's LogCleaner does.

The cleaner writes ``<base>.log.cleaned`` with its ``.index.cleaned`` and ``.timeindex.cleaned``
and fsyncs them; renaming them to ``.swap`` marks the cleaned segment complete; renaming the
``.swap`` files over the old segment's files puts it in place.  The ``.log`` is renamed last at
each step, so:

* no ``<base>.log.swap``: the swap never committed; ``.cleaned`` and stray index ``.swap``
  files are deleted and the old segment, untouched, stays;
* a ``<base>.log.swap``: the swap committed; recovery finishes it, renaming what is left.

A rename over an existing file is atomic (POSIX), so a reader sees the old ``.log`` or the
new one, never a mix; a reader holding the old file open keeps reading the old records, every
one of which the new file holds too, or a newer record of the same key.  kcli cleans one segment
into one (Kafka also merges small neighbours into one segment; with one-for-one swaps the
segment a ``.swap`` replaces is always the one of the same base offset).
"""

from __future__ import annotations

import os
from pathlib import Path

from storage.constants import (
    CLEANED_SUFFIX,
    CLEANER_LOCK_FILE,
    INDEX_SUFFIX,
    LOG_SUFFIX,
    SWAP_SUFFIX,
    TIME_INDEX_SUFFIX,
)
from storage.fileio import fsync_dir
from storage.flock import FileMutex
from storage.offset_index import OffsetIndex
from storage.segment import Segment, segment_filename

# Indexes first, the .log last: the .log's rename is each step's commit point.
_ORDER = (INDEX_SUFFIX, TIME_INDEX_SUFFIX, LOG_SUFFIX)


def cleaned_segment(directory: Path, base_offset: int) -> Segment:
    """A Segment whose three files are the ``.cleaned`` ones, for the cleaner to write."""
    seg = Segment(directory, base_offset)
    seg.log_path = seg.log_path.with_name(seg.log_path.name + CLEANED_SUFFIX)
    seg.offset_index.path = seg.offset_index.path.with_name(
        seg.offset_index.path.name + CLEANED_SUFFIX
    )
    seg.time_index.path = seg.time_index.path.with_name(seg.time_index.path.name + CLEANED_SUFFIX)
    return seg


def pending_swaps(names) -> set[int]:
    """Base offsets of the segments a swap is under way for (``names``: a directory listing)."""
    out = set()
    for name in names:
        if name.endswith(SWAP_SUFFIX):
            stem = name.split(".")[0]
            if stem.isdigit():
                out.add(int(stem))
    return out


def distrust_index(seg: Segment) -> None:
    """While a swap is under way, a segment's .index may already be the new one and its .log
    still the old one (or the other way round): readers then scan the .log from its start."""
    seg.offset_index = OffsetIndex(seg.directory / ".no-index", seg.base_offset)


def _path(directory: Path, base_offset: int, suffix: str, state: str = "") -> Path:
    return directory / (segment_filename(base_offset, suffix) + state)


def swap_in(directory: Path, base_offset: int, *, after_step=None) -> None:
    """Replace segment ``base_offset`` with its fsynced ``.cleaned`` files.

    ``after_step`` (tests) is called after every rename, to show each state is recoverable.
    """
    step = after_step or (lambda: None)
    for suffix in _ORDER:
        if suffix == LOG_SUFFIX:
            fsync_dir(directory)  # the index .swap files are durable before the commit point
        os.rename(
            _path(directory, base_offset, suffix, CLEANED_SUFFIX),
            _path(directory, base_offset, suffix, SWAP_SUFFIX),
        )
        step()
    fsync_dir(directory)
    _finish(directory, base_offset, step)


def _finish(directory: Path, base_offset: int, step) -> None:
    for suffix in _ORDER:
        swap = _path(directory, base_offset, suffix, SWAP_SUFFIX)
        if swap.exists():
            os.rename(swap, _path(directory, base_offset, suffix))
            step()
    fsync_dir(directory)


def recover_swaps(directory: Path, index_interval_bytes: int) -> list[str]:
    """Finish committed swaps and discard uncommitted ones; the names of the files handled.

    Does nothing while a cleaner works on the partition (it holds the cleaner lock): the
    files are its own, half-written.  A killed cleaner's lock is free.
    """
    lock = FileMutex(directory / CLEANER_LOCK_FILE)
    try:
        if not lock.try_acquire():
            return []
    except OSError:
        return []  # a read-only data directory: leave it to a writer
    try:
        return _recover_swaps_locked(directory, index_interval_bytes)
    finally:
        lock.release()
        lock.close()


def leftover_swap_files(directory: Path) -> list[str]:
    """The ``.cleaned`` and ``.swap`` files in ``directory`` (what ``recover_swaps`` handles)."""
    return sorted(
        n
        for n in os.listdir(directory)
        if n.split(".")[0].isdigit() and n.endswith((CLEANED_SUFFIX, SWAP_SUFFIX))
    )


def _recover_swaps_locked(directory: Path, index_interval_bytes: int) -> list[str]:
    handled: list[str] = []
    names = sorted(os.listdir(directory))
    committed = {
        int(n.split(".")[0])
        for n in names
        if n.endswith(LOG_SUFFIX + SWAP_SUFFIX) and n.split(".")[0].isdigit()
    }
    for name in names:
        stem = name.split(".")[0]
        if not stem.isdigit():
            continue
        if name.endswith(CLEANED_SUFFIX) or (
            name.endswith(SWAP_SUFFIX) and int(stem) not in committed
        ):
            (directory / name).unlink(missing_ok=True)
            handled.append(name)
    for base in sorted(committed):
        index_missing = not (
            _path(directory, base, INDEX_SUFFIX, SWAP_SUFFIX).exists()
            and _path(directory, base, TIME_INDEX_SUFFIX, SWAP_SUFFIX).exists()
        )
        handled += [
            _path(directory, base, s, SWAP_SUFFIX).name
            for s in _ORDER
            if _path(directory, base, s, SWAP_SUFFIX).exists()
        ]
        _finish(directory, base, lambda: None)
        if index_missing:
            # Only a machine crash can lose a rename the directory fsync ordered; the old
            # index may then sit beside the new log: rebuild it from the log.
            seg = Segment(directory, base)
            fd = os.open(seg.log_path, os.O_RDONLY)
            try:
                seg.rebuild_indexes(fd, index_interval_bytes, closed=True)
            finally:
                os.close(fd)
    return handled
