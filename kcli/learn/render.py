"""How ``kcli learn`` shows the course: status, the lesson table and check results."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from rich.console import Console
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from kcli.learn.course import CheckOutcome, Status
from kcli.learn.terminal import new_terminal_commands
from kcli.learn.watch import WatchState


def _bar(done: int, total: int, width: int = 20) -> str:
    filled = round(width * done / total) if total else 0
    return "█" * filled + "░" * (width - filled)


def _cmd(text: str) -> Text:
    return Text(text, style="bold cyan")


def status(console: Console, st: Status, data_dir: Path) -> None:
    """``kcli learn`` with no argument: a welcome, or where you are and the next step."""
    total = len(st.lessons)
    lesson = st.current
    if not st.started:
        intro = Text.assemble(
            "Learn Apache Kafka by doing it: ",
            (f"{total} short lessons", "bold"),
            ", each ending with a check that looks at what you built in your own "
            "local store. No Kafka install needed: kcli keeps topics in Kafka's own "
            "on-disk format.\n\n",
            ("Your store: ", "dim"),
            (str(data_dir), "dim"),
        )
        console.print(Panel(intro, title="Welcome to kcli learn", title_align="left", width=76))
        console.print()
        console.print(Text.assemble(("Lesson 1: ", "bold"), (lesson.title, "bold")))
        console.print(Padding(Text(lesson.summary), (0, 0, 1, 2)))
        console.print(Text.assemble("Read it:          ", _cmd(f"kcli learn show {lesson.number}")))
        console.print(Text.assemble("When you're done: ", _cmd("kcli learn check")))
        console.print(Text.assemble("All lessons:      ", _cmd("kcli learn list")))
        return
    done = st.passed_count
    console.print(
        Text.assemble(
            ("kcli learn  ", "bold"),
            (_bar(done, total), "green"),
            f"  {done} of {total} lessons passed",
        )
    )
    console.print()
    if st.finished:
        console.print(
            Text(
                "Every lesson passed. Well done! Revisit any with kcli learn show N, or "
                "move on to a real cluster (lesson 20).",
                style="bold green",
            )
        )
        return
    passed = st.progress.is_passed(lesson.slug)
    mark = Text(" ✓ passed", style="green") if passed else Text("")
    console.print(
        Text.assemble(
            ("You are on lesson ", "bold"), (f"{lesson.number}: {lesson.title}", "bold"), mark
        )
    )
    console.print(Padding(Text(lesson.summary), (0, 0, 1, 2)))
    if passed:
        console.print(Text.assemble("Next step: ", _cmd("kcli learn next")))
    else:
        console.print(Text.assemble("Read it:          ", _cmd(f"kcli learn show {lesson.number}")))
        console.print(Text.assemble("When you're done: ", _cmd("kcli learn check")))
        console.print(Text.assemble("Stuck?            ", _cmd(f"kcli learn hint {lesson.number}")))


def lesson_table(console: Console, st: Status) -> None:
    """``kcli learn list``: number, title, done."""
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    table.add_column("#", justify="right")
    table.add_column("Lesson")
    table.add_column("Done", justify="center")
    for lesson in st.lessons:
        done = st.progress.is_passed(lesson.slug)
        here = lesson.number == st.current.number and st.started
        title = Text(lesson.title, style="bold" if here else "")
        if here:
            title.append("  ◀ you are here", style="yellow")
        table.add_row(str(lesson.number), title, Text("✓", style="green") if done else "")
    console.print(table)
    console.print()
    console.print(
        Text(f"{st.passed_count} of {len(st.lessons)} passed. ", style="dim")
        + Text.assemble("Open one with ", _cmd("kcli learn show N"))
    )


def other_store(console: Console, lesson_store: Path, data_dir: Path) -> None:
    """One line: this check looked at another store than the one the lesson was opened on."""
    console.print(
        Text.assemble(
            ("Note: ", "bold yellow"),
            f"the lesson was opened on the store {lesson_store}, but this terminal uses "
            f"{data_dir}; to check the lesson's store here, first run: ",
            _cmd(new_terminal_commands(lesson_store)[-1]),
        ),
        soft_wrap=True,  # one line, however wide: the terminal may wrap it, a pipe gets it whole
    )


def check_outcome(console: Console, outcome: CheckOutcome) -> None:
    """``kcli learn check``: each requirement met or missing, then the verdict."""
    lesson = outcome.lesson
    console.print(Text(f"Checking lesson {lesson.number}: {lesson.title}", style="bold"))
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="green")
    grid.add_column()
    for finding in outcome.report.findings:
        mark = Text("✓", style="green") if finding.ok else Text("✗", style="red bold")
        grid.add_row(mark, finding.message)  # long messages wrap under the text
    console.print(Padding(grid, (0, 0, 0, 2)))
    console.print()
    if outcome.report.passed:
        console.print(Text(f"✓ Lesson {lesson.number} passed.", style="bold green"))
        if outcome.next_lesson is not None and outcome.next_command:
            console.print(
                Text.assemble(
                    f"Next: lesson {outcome.next_lesson.number} ({outcome.next_lesson.title}): ",
                    _cmd(outcome.next_command),
                )
            )
        else:
            console.print("That was the last lesson. Congratulations!")
    else:
        n = len(outcome.report.missing)
        console.print(
            Text(
                f"✗ Lesson {lesson.number} is not done yet: "
                f"{n} thing{'s' if n != 1 else ''} missing.",
                style="bold red",
            )
        )
        console.print(Text.assemble("Stuck? ", _cmd(f"kcli learn hint {lesson.number}")))


# -- kcli learn watch ----------------------------------------------------------------------------


def _findings(report) -> Table:
    grid = Table.grid(padding=(0, 1))
    grid.add_column()
    grid.add_column()
    for finding in report.findings:
        if finding.ok:
            grid.add_row(Text("✓", style="green"), Text(finding.message, style="green"))
        else:
            grid.add_row(Text("✗", style="red bold"), Text(finding.message))
    return grid


def watch_view(state: WatchState, data_dir: Path, passed: int, total: int):
    """What ``kcli learn watch`` shows on a terminal: the lesson's requirements, green when
    met, and how to work on them from another terminal."""
    from rich.console import Group

    lesson = state.lesson
    parts: list = []
    if state.previous is not None:
        parts.append(Text(f"✓ Lesson {state.previous.number} passed.", style="bold green"))
    parts.append(
        Text.assemble(
            (f"Lesson {lesson.number}: {lesson.title}", "bold"),
            (f"   {passed} of {total} lessons passed", "dim"),
        )
    )
    parts.append(Padding(_findings(state.report), (0, 0, 1, 2)))
    if state.finished:
        parts.append(
            Text(f"✓ Lesson {lesson.number} passed. That was the last lesson!", "bold green")
        )
        return Group(*parts)
    if state.report.passed:
        parts.append(Text(f"✓ Lesson {lesson.number} passed. On to the next one...", "bold green"))
        return Group(*parts)
    parts.append(Text("Work in another terminal; first type there:", style="dim"))
    for command in new_terminal_commands(data_dir):
        parts.append(Padding(_cmd(command), (0, 0, 0, 2)))
    parts.append(
        Text.assemble(
            "Read it: ",
            _cmd(f"kcli learn show {lesson.number}"),
            "   Stuck? ",
            _cmd(f"kcli learn hint {lesson.number}"),
        )
    )
    parts.append(Text("Watching your store; Ctrl-C stops.", style="dim"))
    return Group(*parts)


def watch_lines(state: WatchState) -> list[str]:
    """What ``kcli learn watch`` prints when its output is not a terminal: the lesson and one
    line per requirement (``✓``/``✗``), each time the answer changes."""
    lesson = state.lesson
    lines = [f"Lesson {lesson.number}: {lesson.title}"]
    lines += [f"  {'✓' if f.ok else '✗'} {f.message}" for f in state.report.findings]
    if state.report.passed:
        lines.append(f"✓ Lesson {lesson.number} passed.")
        if state.finished:
            lines.append("That was the last lesson.")
    return lines


def watch(
    console: Console,
    states: Iterable[WatchState],
    data_dir: Path,
    total: int,
    passed_count: Callable[[], int],
) -> None:
    """Show each state: redrawn in place on a terminal, as plain lines when piped."""
    if not console.is_terminal:
        last: list[str] | None = None
        for state in states:
            lines = watch_lines(state)
            if lines != last:
                console.file.write("\n".join(lines) + "\n\n")  # whole lines, never wrapped
                console.file.flush()
            last = lines
        return
    from rich.live import Live

    with Live(console=console, auto_refresh=False, transient=False) as live:
        for state in states:
            live.update(watch_view(state, data_dir, passed_count(), total), refresh=True)
