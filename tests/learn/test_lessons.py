"""Every lesson stays true: its check fails on a fresh store, its commands print what the
lesson shows, and after them its check passes.

The commands run as a learner runs them: in bash, on an 80-column pseudo-terminal, against a
fresh data directory (see kcli.learn.runner).
"""

from __future__ import annotations

import pytest

from kcli.learn.lessons import all_lessons
from kcli.learn.runner import LessonRunner, describe_failure

LESSONS = all_lessons()


@pytest.mark.parametrize("lesson", LESSONS, ids=[f"{x.number:02d}-{x.slug}" for x in LESSONS])
def test_lesson_commands_make_its_check_pass(lesson, tmp_path, data_dir, kcli):
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
        # Checks on live groups need the lesson's background consumers still running.
        after = kcli("learn", "check", str(lesson.number))
        assert after.returncode == 0, after.stdout + after.stderr
        assert f"✓ Lesson {lesson.number} passed." in after.stdout
    finally:
        stopped = runner.stop_background()
    bad = [r for r in stopped if not r.ok]
    assert not bad, describe_failure(bad[0])
