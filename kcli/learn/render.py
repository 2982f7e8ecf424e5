"""How ``kcli learn`` shows the course: status, the lesson table and check results."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from kcli.learn.course import CheckOutcome, Status


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
                "move on to a real cluster (lesson 15).",
                style="bold green",
            )
        )
        return
    passed = st.progress.is_passed(lesson.number)
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
        done = st.progress.is_passed(lesson.number)
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
        if outcome.next_lesson is not None:
            console.print(
                Text.assemble(
                    f"Next: lesson {outcome.next_lesson.number} ({outcome.next_lesson.title}): ",
                    _cmd("kcli learn next"),
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
