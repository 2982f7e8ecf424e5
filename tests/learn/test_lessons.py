"""Every lesson stays true: its check fails on a fresh store, its commands print what the
lesson shows, and after them its check passes.

The commands run as a learner runs them: in bash, on an 80-column pseudo-terminal, against a
fresh data directory (see kcli.learn.runner).
"""

from __future__ import annotations

import re

import pytest
from demos.summaries import CHECKS, summary_text

from kcli.learn.lessons import all_lessons
from kcli.learn.runner import LessonRunner, describe_failure

LESSONS = all_lessons()


@pytest.mark.parametrize("lesson", LESSONS, ids=[f"{x.number:02d}-{x.slug}" for x in LESSONS])
def test_lesson_commands_make_its_check_pass(lesson, tmp_path, data_dir, kcli):
    """Check fails on a fresh store; every command prints what the lesson shows; check passes."""
    before = kcli("learn", "check", str(lesson.number))
    assert before.returncode == 1, before.stdout + before.stderr
    assert "✗" in before.stdout and "not done yet" in before.stdout

    work = tmp_path / "work"
    work.mkdir()
    runner = LessonRunner(data_dir, work)
    try:
        results = runner.run_lesson(lesson)
        failed = [r for r in results if not r.ok]
        assert not failed, describe_failure(failed[0])
        assert len(results) == len(lesson.steps())
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
    finally:
        stopped = runner.stop_background()
    bad = [r for r in stopped if not r.ok]
    assert not bad, describe_failure(bad[0])
