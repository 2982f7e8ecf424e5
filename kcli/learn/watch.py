"""``kcli learn watch``: the current lesson's check, judged again whenever the store changes.

The learner works in another terminal; ``watch`` yields a ``WatchState`` each time the check
is judged.  Judging is cheap but not free, so the store is polled instead: every
``interval`` seconds the names, sizes and modification times of its files are compared with
the last ones (``fingerprint``), and only a change (or ``refresh`` seconds without one, since
a consumer missing its heartbeats changes the answer without touching a file) judges again.
Polling needs no extra library and works the same on every platform and file system.

When every requirement is met, the pass is recorded as ``kcli learn check`` records it and
the learner is moved on to the next lesson, as ``kcli learn next`` does.  Nothing here prints.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kcli.learn.checks import CheckReport
from kcli.learn.course import Course
from kcli.learn.lessons import Lesson

INTERVAL_S = 0.5
REFRESH_S = 5.0


@dataclass(frozen=True)
class WatchState:
    """One judgement: the lesson, its findings, and the lesson passed before it (if any).

    ``finished`` is set on the last state, when the last lesson has passed."""

    lesson: Lesson
    report: CheckReport
    previous: Lesson | None = None
    finished: bool = False


def fingerprint(data_dir: Path) -> frozenset[tuple[str, int, int]]:
    """Every file under ``data_dir`` with its size and modification time, cheaply."""
    out: set[tuple[str, int, int]] = set()
    stack = [str(data_dir)]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:  # not created yet, or deleted under us
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    st = entry.stat(follow_symlinks=False)
                    out.add((entry.path, st.st_size, st.st_mtime_ns))
            except OSError:
                continue
    return frozenset(out)


def watch(
    course: Course,
    *,
    interval: float = INTERVAL_S,
    refresh: float = REFRESH_S,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[WatchState]:
    """Judge the current lesson now and after every change of the store, moving on after a
    pass; ends after the last lesson passes (or when the caller stops iterating)."""
    seen: frozenset | None = None
    judged_at = float("-inf")
    previous: Lesson | None = None
    while True:
        now_seen = fingerprint(course.data_dir)
        if now_seen != seen or clock() - judged_at >= refresh:
            lesson, report = course.watch_state()
            judged_at = clock()
            if report.passed:
                course.check(lesson.number)  # records the pass
                following = course.next()
                yield WatchState(lesson, report, previous, finished=following is None)
                if following is None:
                    return
                previous = lesson
                seen = None  # judge the new lesson at once
                continue
            yield WatchState(lesson, report, previous)
            # The listing from before judging: a change made while judging is seen next time.
            seen = now_seen
        sleep(interval)
