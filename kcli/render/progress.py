"""Progress bars on stderr: drawn with rich only when stderr is a terminal."""

# Start-up: kcli.render is imported by every command that prints, a one-record `kcli produce`
# included, so rich's tables, text and live views are imported where they are used.

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from kcli.render.output import console, stderr_is_terminal


class _NoProgress:
    def advance(self, n: float = 1) -> None:
        pass

    def update(self, completed: float) -> None:
        pass


class _RichProgress:
    def __init__(self, progress, task):
        self._progress = progress
        self._task = task

    def advance(self, n: float = 1) -> None:
        self._progress.advance(self._task, n)

    def update(self, completed: float) -> None:
        self._progress.update(self._task, completed=completed)


@contextmanager
def progress(description: str, total: float | None = None, unit: str = "records") -> Iterator:
    """A progress bar on stderr when stderr is a terminal; a silent stand-in otherwise."""
    if not stderr_is_terminal():
        yield _NoProgress()
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    if total is None:
        columns = [
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TextColumn(f"{{task.completed:,.0f}} {unit}"),
            TimeElapsedColumn(),
        ]
    elif unit == "bytes":
        from rich.progress import DownloadColumn, TransferSpeedColumn

        columns = [
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        ]
    else:
        columns = [
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TimeRemainingColumn(),
        ]
    with Progress(*columns, console=console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield _RichProgress(bar, task)
