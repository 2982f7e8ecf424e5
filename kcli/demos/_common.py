"""What every demo shares: a live view that also works in a pipe, pacing, a summary, cleanup.

A demo measures what really happens (real sockets, real threads and processes, the real
store) and shows it while it runs: on a terminal with a rich ``Live`` view refreshing in
place, in a pipe as a plain status line about once a second.  It ends with a summary of
what it showed, built from the figures it measured.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from storage import Store
from storage.constants import STABLE
from storage.groups import GroupNotFound, GroupStore

DEMO_PREFIX = "demo-"


@dataclass
class DemoContext:
    """How a demo runs: where the store is, how long to run, where to draw."""

    data_dir: Path
    fast: bool = False
    seconds: float | None = None
    console: Console = field(default_factory=lambda: Console(highlight=False))

    def duration(self, normal: float, fast: float) -> float:
        """How long one phase lasts: ``--seconds`` scales the normal length, ``--fast`` shrinks it."""
        if self.seconds is not None:
            return max(0.5, self.seconds * normal / 30.0)
        return fast if self.fast else normal

    @property
    def interactive(self) -> bool:
        return self.console.is_terminal

    def store(self, clock=None):
        return Store(self.data_dir, clock=clock) if clock is not None else Store(self.data_dir)


def heading(ctx: DemoContext, title: str, text: str) -> None:
    """A part of a demo: a title and what is about to happen."""
    ctx.console.print()
    ctx.console.print(Text(title, style="bold magenta"))
    ctx.console.print(Text(text, style="dim" if ctx.interactive else ""))


@contextmanager
def live_view(
    ctx: DemoContext, render: Callable[[], RenderableType], plain: Callable[[], str]
) -> Iterator[Callable[[], None]]:
    """Show ``render()`` refreshing in place on a terminal; ``plain()`` once a second in a pipe.

    Yields a function that forces a refresh (call it at the end so the last state is shown).
    """
    if ctx.interactive:
        with Live(render(), console=ctx.console, refresh_per_second=8, transient=False) as live:
            stop = threading.Event()

            def loop() -> None:
                while not stop.wait(0.125):
                    live.update(render())

            t = threading.Thread(target=loop, daemon=True)
            t.start()
            try:
                yield lambda: live.update(render(), refresh=True)
            finally:
                stop.set()
                t.join()
                live.update(render(), refresh=True)
    else:
        stop = threading.Event()
        out = ctx.console.file

        def loop() -> None:
            while not stop.wait(1.0):
                out.write(f"  {plain()}\n")
                out.flush()

        t = threading.Thread(target=loop, daemon=True)
        t.start()
        try:
            yield lambda: None
        finally:
            stop.set()
            t.join()
            out.write(f"  {plain()}\n")
            out.flush()


def summary(ctx: DemoContext, lines: list[str], *, title: str = "What this demo showed") -> None:
    """The closing summary: one line per fact the demo measured."""
    ctx.console.print()
    if ctx.interactive:
        body = Table.grid(padding=(0, 1))
        body.add_column(style="green")
        body.add_column()
        for line in lines:
            body.add_row("•", line)  # wrapped lines hang under the text, not the bullet
        ctx.console.print(Panel(body, title=title, title_align="left", border_style="green"))
    else:
        ctx.console.print(title)
        for line in lines:
            ctx.console.print(f"- {line}", soft_wrap=True)


def kv_table(rows: list[tuple[str, str]], title: str | None = None) -> Table:
    """A two-column table of labels and values."""
    table = Table(show_header=False, box=None, title=title, title_justify="left", pad_edge=False)
    table.add_column(style="dim")
    table.add_column(justify="right")
    for k, v in rows:
        table.add_row(k, v)
    return table


class Pacer:
    """Spaces events at a fixed rate by sleeping until each one's due time (no drift)."""

    def __init__(self, per_second: float):
        self.interval = 1.0 / per_second
        self.start = time.monotonic()
        self.n = 0

    def wait(self) -> None:
        due = self.start + self.n * self.interval
        self.n += 1
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def wait_for_stable_group(groups, group: str, members: int, timeout: float = 30.0) -> None:
    """Wait, up to ``timeout`` seconds, until ``group`` is Stable with ``members`` members.

    Returns either way: a demo goes on and shows what happens if the group is slow to form.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        known = {g.group: g for g in groups.list_groups()}
        if group in known and known[group].state == STABLE and known[group].members == members:
            return
        time.sleep(0.05)


def reset_topic(store, name: str, partitions: int = 1, config: dict[str, str] | None = None):
    """Give a demo a fresh topic of its own (demo topics are named ``demo-...``)."""
    assert name.startswith(DEMO_PREFIX)
    if store.topic_exists(name):
        store.delete_topic(name)
    return store.create_topic(name, partitions, config or {})


def reset_groups(store, *groups: str) -> None:
    """Forget a demo's consumer groups from an earlier run."""

    group_store = GroupStore(store)
    for group in groups:
        assert group.startswith(DEMO_PREFIX)
        try:
            group_store.delete_group(group)
        except GroupNotFound:
            pass


def fast_from_env() -> bool:
    return os.environ.get("KCLI_DEMO_FAST", "") not in ("", "0")


def python_executable() -> str:
    return sys.executable
