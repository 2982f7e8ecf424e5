"""The way from one lesson to the next: progress kept by lesson slug (so inserting a lesson
credits nothing wrongly), the "Next" line naming the command that opens the right lesson, new
terminals told what to type, and a check against another store saying so."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from kcli.learn import progress as progress_store
from kcli.learn.course import Course
from kcli.learn.lessons import all_lessons, lessons_dir
from tests.conftest import run_kcli

LESSONS = all_lessons()


def test_old_progress_keyed_by_number_is_read_and_rewritten_by_slug(kcli, data_dir):
    (data_dir / "learn").mkdir(parents=True)
    old = {"current": 3, "passed": {"1": "2026-01-01T00:00:00+00:00", "2": "2026-01-02T00:00:00"}}
    (data_dir / "learn" / "progress.json").write_text(json.dumps(old))
    listing = kcli("learn", "list")
    assert listing.returncode == 0, listing.stderr
    assert re.search(r"1\s+What Kafka is\s+✓", listing.stdout)
    assert re.search(r"2\s+Why not just a socket\?\s+✓", listing.stdout)
    assert re.search(r"3\s+A fast producer.*you are here", listing.stdout)
    assert not re.search(r"3\s+A fast producer.*✓", listing.stdout)
    kcli("learn", "show", "4", "--no-pager")
    saved = json.loads((data_dir / "learn" / "progress.json").read_text())
    assert saved["version"] == 2 and saved["current"] == "retention"
    assert saved["passed"] == {
        "what-is-kafka": "2026-01-01T00:00:00+00:00",
        "why-not-a-socket": "2026-01-02T00:00:00",
    }


def test_inserting_a_lesson_keeps_each_pass_with_its_lesson(tmp_path, data_dir):
    """Passes follow the lesson, not its number, when a lesson is inserted before it."""
    before = tmp_path / "before"
    shutil.copytree(lessons_dir(), before)
    course = Course(data_dir, before)
    course.open(6)
    assert run_kcli(data_dir, "topic", "create", "inventory", "--partitions", "4").returncode == 0
    for partition in range(4):
        produced = run_kcli(data_dir, "produce", "inventory", "--partition", str(partition), "x")
        assert produced.returncode == 0
    assert course.check(6).report.passed
    # A new lesson 5: every lesson from 5 on moves one number up.
    after = tmp_path / "after"
    after.mkdir()
    shutil.copytree(before / "_snippets", after / "_snippets")
    for lesson in all_lessons(before):
        number = lesson.number + (1 if lesson.number >= 5 else 0)
        shutil.copy(lesson.path, after / f"{number:02d}-{lesson.slug}.md")
    shutil.copy(before / "05-pub-sub.md", after / "05-inserted-lesson.md")
    moved = Course(data_dir, after)
    status = moved.status()
    assert status.current.number == 7 and status.current.slug == "topics-and-partitions"
    passed = [x.number for x in status.lessons if status.progress.is_passed(x.slug)]
    assert passed == [7]  # lesson 6 (now 7), not the lesson now numbered 6
    assert not status.progress.is_passed(moved.lesson(5).slug)


def test_next_after_a_check_opens_the_lesson_after_the_one_checked(kcli):
    kcli("learn", "show", "1", "--no-pager")
    kcli("topic", "create", "inventory", "--partitions", "4")
    for partition in range(4):
        kcli("produce", "inventory", "--partition", str(partition), "x")
    other = kcli("learn", "check", "6")  # not the current lesson
    assert other.returncode == 0
    assert re.search(r"^Next: lesson 7 \(.*\): kcli learn show 7$", other.stdout, re.M)
    shown = kcli("learn", "show", "7", "--no-pager")
    assert "7. Offsets" in shown.stdout and shown.stderr == ""
    assert "Lesson 7" in kcli("learn", "check").stdout  # show made 7 the current lesson
    # Checked as the current lesson, the way on is `kcli learn next`, which opens 7.
    assert kcli("learn", "show", "6", "--no-pager").returncode == 0
    done = kcli("learn", "check")
    assert re.search(r"^Next: lesson 7 \(.*\): kcli learn next$", done.stdout, re.M)
    nxt = kcli("learn", "next", "--no-pager")
    assert nxt.stderr == "" and "7. Offsets" in nxt.stdout


def test_a_new_terminal_is_told_how_to_reach_this_kcli_and_this_store(kcli, data_dir, tmp_path):
    shown = kcli("learn", "show", "14", "--no-pager", env={"COLUMNS": "100"})
    assert shown.returncode == 0, shown.stderr
    lines: list[str] = []
    for line in (line.strip() for line in shown.stdout.splitlines()):
        # A long path is split with " \\" (lessons render at most 100 columns wide): one line.
        if lines and lines[-1].endswith(" \\"):
            lines[-1] = lines[-1][:-1] + line
        else:
            lines.append(line)
    start = lines.index("# in the new terminal, first:")
    activate, export, command = lines[start + 1 : start + 4]
    assert activate == f"$ source {Path(sys.prefix) / 'bin' / 'activate'}"
    assert export == f"$ export KCLI_DATA_DIR={data_dir.resolve()}"
    assert command == "$ kcli consume purchases --group billing --follow"
    assert str(Path.home()) not in (lessons_dir() / "14-consumer-groups.md").read_text()
    # What the lines do in a new shell: kcli found, on the lesson's store.
    kcli("topic", "create", "purchases")
    bare = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    script = f"{activate[2:]} && {export[2:]} && kcli topic list"
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=bare)
    assert out.returncode == 0, out.stderr
    assert "purchases" in out.stdout
    assert subprocess.run(["bash", "-c", "kcli --help"], capture_output=True, env=bare).returncode


def test_check_on_another_store_says_so_in_one_line(kcli, data_dir, tmp_path):
    kcli("learn", "show", "14", "--no-pager")
    elsewhere = run_kcli(tmp_path / "other", "learn", "check")
    assert elsewhere.returncode == 1
    notes = [line for line in elsewhere.stderr.splitlines() if line.strip()]
    assert len(notes) == 1, elsewhere.stderr
    assert notes[0].startswith("Note:")
    assert str(data_dir.resolve()) in notes[0] and str((tmp_path / "other").resolve()) in notes[0]
    assert f"export KCLI_DATA_DIR={data_dir.resolve()}" in notes[0]
    same = kcli("learn", "check")
    assert same.returncode == 1 and same.stderr == ""


def test_progress_file_that_is_not_progress_is_one_clear_error(kcli, data_dir):
    (data_dir / "learn").mkdir(parents=True)
    (data_dir / "learn" / "progress.json").write_text('{"version": 2, "passed": {"": 1}}')
    out = kcli("learn", "list")
    assert out.returncode == 1 and "is not a kcli progress file" in out.stderr
    assert "Traceback" not in out.stderr
    assert progress_store.load  # the module is the one home of the format


def test_learn_state_never_lands_in_the_users_home(kcli, _own_state_dir):
    kcli("learn", "show", "3", "--no-pager")
    assert (_own_state_dir / "kcli" / "learn-store.json").exists()
    assert os.environ["XDG_STATE_HOME"] == str(_own_state_dir)
