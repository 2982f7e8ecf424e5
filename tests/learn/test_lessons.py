"""Every lesson stays true: its check fails on a fresh store, its commands print what the
lesson shows, and after them its check passes.

The commands run as a learner runs them: copied from what ``kcli learn show`` and ``kcli learn
hint --solution`` print on an 80-column terminal (so a command the terminal wrapped would
break here too), in bash, on an 80-column pseudo-terminal, against a fresh data directory
(see kcli.learn.runner).  Commands for another terminal run in the background, after the
lines the lesson says to type in a new terminal, and the check runs while they still run.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import pytest
from demos.summaries import CHECKS, summary_text

from kcli.learn.lessons import all_lessons
from kcli.learn.runner import LessonRunner, describe_failure
from kcli.learn.terminal import shell_path

LESSONS = all_lessons()


@pytest.fixture
def data_dir():
    """A store with a short path, as a learner's usually is (``~/.local/share/kcli``), so that
    the ``export KCLI_DATA_DIR=...`` line a new terminal needs fits on one line."""
    top = Path(tempfile.mkdtemp(prefix="kl-"))
    yield top / "data"
    shutil.rmtree(top, ignore_errors=True)


@pytest.mark.parametrize("lesson", LESSONS, ids=[f"{x.number:02d}-{x.slug}" for x in LESSONS])
def test_lesson_commands_make_its_check_pass(lesson, tmp_path, data_dir, kcli):
    """Check fails on a fresh store; every command, as pasted from the screen, prints what the
    lesson shows; the check passes; then check -> next -> show moves on without a warning."""
    before = kcli("learn", "check", str(lesson.number))
    assert before.returncode == 1, before.stdout + before.stderr
    assert "✗" in before.stdout and "not done yet" in before.stdout

    work = tmp_path / "work"
    work.mkdir()
    runner = LessonRunner(data_dir, work)
    try:
        steps, problem = runner.pasted_steps(lesson)
        assert problem is None, problem
        assert len(steps) == len(lesson.steps())
        for step in steps:
            if step.background:
                # A new terminal is told how to reach this kcli and this store.
                assert f"export KCLI_DATA_DIR={shell_path(data_dir.resolve())}" in step.command
        results = runner.run_lesson(lesson, steps)
        failed = [r for r in results if not r.ok]
        assert not failed, describe_failure(failed[0])
        assert len(results) == len(steps)
        # The demos a lesson runs (with --fast) must have proved what their summary says.
        for result in results:
            demo = re.match(r"kcli demo ([\w-]+)", result.step.command)
            if demo and demo.group(1) in CHECKS:
                CHECKS[demo.group(1)](summary_text(result.output))
        # The lesson ends by running its own check, while its background consumers still
        # run: that step passed, so `kcli learn check N` exited 0 and printed the verdict.
        final = results[-1]
        assert final.step.command == f"kcli learn check {lesson.number}"
        assert f"✓ Lesson {lesson.number} passed." in final.step.expected
        _next_flow(kcli, lesson)
    finally:
        stopped = runner.stop_background()
        _delete_cluster(data_dir)
    bad = [r for r in stopped if not r.ok]
    assert not bad, describe_failure(bad[0])


def _delete_cluster(data_dir: Path) -> None:
    """Kill -9 every process of the cluster a lesson started (paused ones too), if any."""
    from kcli.cluster.launcher import Cluster

    cluster = Cluster(data_dir)
    if cluster.exists():
        cluster.delete()


def _next_flow(kcli, lesson):
    """check -> the "Next" line's command -> show: the lesson after this one, no warning."""
    check = kcli("learn", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stderr == ""
    following = next((x for x in LESSONS if x.number > lesson.number), None)
    if following is None:
        assert "last lesson" in check.stdout
        return
    m = re.search(r"^Next: lesson (\d+) .*: (kcli learn \w+)$", check.stdout, re.M)
    assert m, check.stdout
    assert int(m.group(1)) == following.number
    nxt = kcli(*m.group(2).split()[1:], "--no-pager")
    assert nxt.returncode == 0 and nxt.stderr == "", nxt.stderr
    assert f"{following.number}. {following.title}" in nxt.stdout
    show = kcli("learn", "show", "--no-pager")
    assert show.returncode == 0 and show.stderr == "", show.stderr
    assert f"{following.number}. {following.title}" in show.stdout
