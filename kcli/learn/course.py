"""The course: lessons plus a learner's progress, and the few things a learner does with them.

Commands in ``kcli/commands/learn.py`` call these functions and render what they return;
nothing here prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kcli.learn import progress as progress_store
from kcli.learn import terminal
from kcli.learn.checks import CheckReport, run_checks
from kcli.learn.lessons import Lesson, all_lessons, get_lesson
from kcli.learn.progress import Progress


@dataclass(frozen=True)
class Status:
    """Where the learner is: the lessons, which passed, and the lesson they are on."""

    lessons: tuple[Lesson, ...]
    progress: Progress
    current: Lesson
    started: bool

    @property
    def passed_count(self) -> int:
        return sum(1 for lesson in self.lessons if self.progress.is_passed(lesson.slug))

    @property
    def finished(self) -> bool:
        return self.passed_count == len(self.lessons)


@dataclass(frozen=True)
class CheckOutcome:
    """A check's report, the lesson judged, and the lesson that comes next (if any).

    ``next_command`` opens exactly ``next_lesson``: ``kcli learn next`` when the lesson judged
    is the current one, else ``kcli learn show N``.  ``other_store`` is the store the current
    lesson was opened on when this check looked at another one."""

    lesson: Lesson
    report: CheckReport
    next_lesson: Lesson | None
    first_pass: bool
    next_command: str | None = None
    other_store: Path | None = None


class Course:
    """Lessons and one learner's progress in one data directory."""

    def __init__(self, data_dir: Path, lessons_directory: Path | None = None):
        self.data_dir = Path(data_dir)
        self.lessons = all_lessons(lessons_directory)
        self._lessons_directory = lessons_directory

    def lesson(self, number: int) -> Lesson:
        return get_lesson(number, self._lessons_directory)

    def _progress(self) -> Progress:
        return progress_store.load(self.data_dir)

    def _save(self, progress: Progress) -> None:
        progress_store.save(self.data_dir, progress)

    def _after(self, number: int) -> Lesson | None:
        for lesson in self.lessons:
            if lesson.number > number:
                return lesson
        return None

    def _first_open(self, progress: Progress) -> Lesson:
        for lesson in self.lessons:
            if not progress.is_passed(lesson.slug):
                return lesson
        return self.lessons[-1]

    def status(self) -> Status:
        progress = self._progress()
        current = None
        if progress.current is not None:
            current = next((x for x in self.lessons if x.slug == progress.current), None)
        if current is None:
            current = self._first_open(progress)
        started = progress.current is not None or bool(progress.passed)
        return Status(self.lessons, progress, current, started)

    def open(self, number: int) -> Lesson:
        """Make lesson ``number`` the current one (``show`` and ``next`` do this).

        Also notes which store it was opened on, for ``check`` in another terminal."""
        lesson = self.lesson(number)
        progress = self._progress()
        if progress.current != lesson.slug:
            progress.current = lesson.slug
            self._save(progress)
        terminal.remember_store(self.data_dir, lesson.slug)
        return lesson

    def next(self) -> Lesson | None:
        """Move to the lesson after the current one; None when the current one is the last."""
        following = self._after(self.status().current.number)
        if following is not None:
            self.open(following.number)
        return following

    def check(self, number: int | None = None) -> CheckOutcome:
        """Judge a lesson (default: the current one) on the store; record a pass.

        A pass does not move the learner on: ``kcli learn next`` does, so the "Next" line
        after a pass names the command that opens the lesson right after this one."""
        status = self.status()
        lesson = self.lesson(number) if number is not None else status.current
        report = run_checks(lesson.checks, self.data_dir, lesson_number=lesson.number)
        progress = status.progress
        first_pass = False
        if report.passed:
            first_pass = not progress.is_passed(lesson.slug)
            progress.mark_passed(lesson.slug)
        if progress.current is None:
            progress.current = lesson.slug
        if report.passed or progress.current == lesson.slug:
            self._save(progress)
        following = self._after(lesson.number)
        command = None
        if following is not None:
            is_current = progress.current == lesson.slug
            command = "kcli learn next" if is_current else f"kcli learn show {following.number}"
        elsewhere = terminal.other_store(self.data_dir)
        return CheckOutcome(
            lesson,
            report,
            following,
            first_pass,
            next_command=command,
            other_store=elsewhere.data_dir if elsewhere else None,
        )

    def watch_state(self) -> tuple[Lesson, CheckReport]:
        """The current lesson and its check now, recording nothing (``kcli learn watch``)."""
        lesson = self.status().current
        return lesson, run_checks(lesson.checks, self.data_dir, lesson_number=lesson.number)

    def reset(self, number: int | None = None) -> list[str]:
        """Forget progress (one lesson or all) and delete what those lessons created.

        Returns what was deleted, so the command can say so.  A lesson's topics and groups are
        the ones its front matter lists under ``creates`` and its checks name; the demos'
        ``demo-*`` topics are left alone.  A lesson on a cluster (``creates: {cluster: true}``)
        is judged on the cluster's history, so starting it again deletes the cluster.
        """
        lessons = [self.lesson(number)] if number is not None else list(self.lessons)
        removed = _remove_lesson_state(self.data_dir, lessons)
        if any(lesson.creates_cluster for lesson in lessons):
            removed += _remove_cluster(self.data_dir)
        progress = self._progress()
        progress.forget(lessons[0].slug if number is not None else None)
        if number is not None:
            progress.current = lessons[0].slug
        self._save(progress)
        return removed


def lesson_resources(lesson: Lesson) -> tuple[set[str], set[str]]:
    """The topics and groups a lesson creates (its front matter) or its checks name, in the
    local store (a lesson on a cluster keeps its topics there: deleting the cluster removes
    them)."""
    if lesson.creates_cluster:
        return set(), set()
    topics: set[str] = set(lesson.creates_topics)
    groups: set[str] = set(lesson.creates_groups)
    for spec in lesson.checks:
        for key in ("topic", "source", "target"):
            if spec.get(key):
                topics.add(str(spec[key]))
        if spec.get("group"):
            groups.add(str(spec["group"]))
    return topics, groups


def _remove_cluster(data_dir: Path) -> list[str]:
    from kcli.cluster.launcher import Cluster

    cluster = Cluster(data_dir)
    if not cluster.exists():
        return []
    cluster.delete()
    return ["the cluster (its processes and data)"]


def _remove_lesson_state(data_dir: Path, lessons: list[Lesson]) -> list[str]:
    if not Path(data_dir).is_dir():
        return []
    from storage import Store

    store = Store(data_dir)
    removed: list[str] = []
    try:
        topics: set[str] = set()
        groups: set[str] = set()
        for lesson in lessons:
            t, g = lesson_resources(lesson)
            topics |= t
            groups |= g
        if groups:
            from storage.groups import GroupNotFound, GroupStore

            group_store = GroupStore(store)
            for group in sorted(groups):
                try:
                    group_store.delete_group(group)
                except GroupNotFound:
                    continue
                removed.append(f"group {group}")
        for topic in sorted(topics):
            if store.topic_exists(topic):
                store.delete_topic(topic)
                removed.append(f"topic {topic}")
    finally:
        store.close()
    return removed
