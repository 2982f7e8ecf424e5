"""`kcli learn`: step-by-step lessons, each ending with a check of what you built."""

# Start-up: every command module is imported for `kcli --help`, so the engine (storage),
# kcli.render and rich are imported inside the commands that use them (benchmarks/bench_cli.py).

from __future__ import annotations

import sys

import typer

from kcli.errors import KcliError
from kcli.settings import current

app = typer.Typer(
    help="Step-by-step Kafka lessons with a checker. Start with: kcli learn",
    invoke_without_command=True,
    no_args_is_help=False,
)

_LESSON_ARG = typer.Argument(
    None, help="Lesson number (default: the lesson you are on).", metavar="NUMBER"
)


def _course():
    from kcli.learn.course import Course

    return Course(current().data_dir)


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


@app.callback()
def learn(ctx: typer.Context) -> None:
    """Show where you are in the lessons and what to do next."""

    current().require_local("learn")  # lessons check the local store
    if ctx.invoked_subcommand is not None:
        return
    from kcli.learn import render

    course = _course()
    render.status(_console(), course.status(), course.data_dir)


@app.command("list")
def list_lessons() -> None:
    """List the lessons: number, title, and a tick for each one whose check passed."""
    from kcli.learn import render

    render.lesson_table(_console(), _course().status())


@app.command("show")
def show(
    number: int | None = _LESSON_ARG,
    pager: bool = typer.Option(
        True, "--pager/--no-pager", help="Page long lessons on a terminal (uses $PAGER or less)."
    ),
) -> None:
    """Show a lesson (default: the one you are on) and make it your current lesson."""
    course = _course()
    lesson = course.open(number) if number is not None else course.status().current
    if number is None:
        course.open(lesson.number)
    _page(_render_lesson(lesson, course.data_dir), pager)


def _render_lesson(lesson, data_dir) -> str:
    from kcli.learn.terminal import new_terminal_commands

    text = lesson.markdown(_code_width(), new_terminal_commands(data_dir))
    return _render_markdown(text, footer=_show_footer(lesson))


def _show_footer(lesson) -> str:
    return (
        f"\n---\n\nDone? Run `kcli learn check`. Stuck? `kcli learn hint {lesson.number}`. "
        f"All lessons: `kcli learn list`.\n"
    )


@app.command("check")
def check(number: int | None = _LESSON_ARG) -> None:
    """Check your work for a lesson (default: the one you are on) against the store.

    Exits 0 when every requirement is met, 1 otherwise, saying exactly what is missing.
    """
    from kcli.learn import render

    course = _course()
    outcome = course.check(number)
    if outcome.other_store is not None:
        render.other_store(_console(stderr=True), outcome.other_store, course.data_dir)
    render.check_outcome(_console(), outcome)
    if not outcome.report.passed:
        raise typer.Exit(1)


@app.command("hint")
def hint(
    number: int | None = _LESSON_ARG,
    solution: bool = typer.Option(False, "--solution", help="Show the commands that solve it."),
) -> None:
    """Give a hint for a lesson's exercise (default: the lesson you are on)."""
    from kcli.learn.terminal import new_terminal_commands

    course = _course()
    lesson = course.lesson(number) if number is not None else course.status().current
    if solution:
        body = lesson.solution(_code_width(), new_terminal_commands(course.data_dir))
        text = f"## Lesson {lesson.number}: solution\n\n{body}\n"
    else:
        text = (
            f"## Lesson {lesson.number}: hint\n\n{lesson.hint()}\n\n"
            f"Still stuck? `kcli learn hint {lesson.number} --solution` shows the commands.\n"
        )
    _print_markdown(text)


@app.command("next")
def next_lesson(
    pager: bool = typer.Option(
        True, "--pager/--no-pager", help="Page long lessons on a terminal (uses $PAGER or less)."
    ),
) -> None:
    """Move on to the next lesson and show it."""
    course = _course()
    status = course.status()
    if not status.progress.is_passed(status.current.slug):
        _say(
            f"Note: lesson {status.current.number} has not passed its check yet; come back "
            f"with: kcli learn show {status.current.number}",
            err=True,
        )
    lesson = course.next()
    if lesson is None:
        _say(
            f"Lesson {status.current.number} is the last one. See what is left with: "
            f"kcli learn list",
            err=True,
        )
        return
    _page(_render_lesson(lesson, course.data_dir), pager)


@app.command("watch")
def watch() -> None:
    """Watch the lesson you are on while you work on it in another terminal.

    Each requirement of the lesson's check is shown and judged again whenever your store changes; it turns green when met, and once all are met the lesson is passed and the next one is watched. Ctrl-C stops. When output is not a terminal, the requirements are printed as plain lines (one per requirement, marked ✓ or ✗) each time they change.
    """
    from kcli.learn import render
    from kcli.learn.watch import watch as watch_states

    course = _course()
    try:
        render.watch(
            _console(),
            watch_states(course),
            course.data_dir,
            len(course.lessons),
            lambda: course.status().passed_count,
        )
    except KeyboardInterrupt:
        _console(stderr=True).print("Stopped watching.")


@app.command("reset")
def reset(
    number: int | None = typer.Argument(
        None, help="Lesson number to redo (default: every lesson).", metavar="NUMBER"
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Start a lesson (or all lessons) again: forget the progress and delete the topics and consumer groups (or, for a lesson on a cluster, the cluster) that the lesson's exercise created."""
    from kcli.learn.course import lesson_resources

    course = _course()
    lessons = [course.lesson(number)] if number is not None else list(course.lessons)
    names: list[str] = []
    for lesson in lessons:
        topics, groups = lesson_resources(lesson)
        names += [f"topic {t}" for t in sorted(topics)] + [f"group {g}" for g in sorted(groups)]
        if lesson.creates_cluster:
            names.append("the cluster")
    what = f"lesson {number}" if number is not None else "every lesson"
    if not yes:
        if not sys.stdin.isatty():
            raise KcliError(f"resetting {what} deletes data; add --yes to confirm")
        listed = ", ".join(dict.fromkeys(names)) or "nothing"
        typer.confirm(
            f"Reset {what}? This forgets its progress and deletes (if present): {listed}",
            abort=True,
        )
    removed = course.reset(number)
    gone = ", ".join(removed) if removed else "nothing to delete"
    _say(f"Reset {what} ({gone}).")
    start = number if number is not None else course.lessons[0].number
    _say(f"Start again with: kcli learn show {start}")


# -- rendering: kcli.render.lessons (imported when used: rich's Markdown is slow to load) ---


def _width() -> int:
    """Lessons render at the terminal's width, at most 100 columns (long lines read badly)."""
    return min(_console().width, 100)


def _code_width() -> int:
    """What fits on a line of a code block: rich pads code blocks by one column each side."""
    return _width() - 2


def _render_markdown(text: str, footer: str = "") -> str:
    from kcli.render import lessons

    return lessons.render_markdown(text, footer)


def _print_markdown(text: str) -> None:
    from kcli.render import lessons

    lessons.print_markdown(text)


def _page(rendered: str, pager: bool) -> None:
    from kcli.render import lessons

    lessons.page(rendered, pager)


def _say(text: str, err: bool = False) -> None:
    from kcli.render import lessons

    lessons.say(text, err=err)
