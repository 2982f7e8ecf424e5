"""The lessons' structure and the `kcli learn` commands around them."""

from __future__ import annotations

import json
import re

import pytest

from kcli.learn.checks import CHECKS
from kcli.learn.lessons import REQUIRED_SECTIONS, all_lessons, lessons_dir
from kcli.learn.runner import match_output, normalize

LESSONS = all_lessons()


def test_at_least_fifteen_lessons_numbered_in_order():
    assert [x.number for x in LESSONS] == list(range(1, len(LESSONS) + 1))
    assert len(LESSONS) >= 15
    for lesson in LESSONS:
        assert re.fullmatch(r"\d\d-[a-z0-9-]+\.md", lesson.path.name)


@pytest.mark.parametrize("lesson", LESSONS, ids=[x.slug for x in LESSONS])
def test_lesson_has_every_part(lesson):
    sections = lesson.sections()
    for name in REQUIRED_SECTIONS:
        assert sections.get(name, "").strip(), f"lesson {lesson.number} lacks '## {name}'"
    learn = sections["What you will learn"].strip().splitlines()
    assert 2 <= len(learn) <= 4, "'What you will learn' should be 2-3 lines"
    assert "```text" in sections["The idea"], "the idea needs a small picture"
    for picture in re.findall(r"```text\n(.*?)```", lesson.body, re.S):
        wide = [line for line in picture.splitlines() if len(line) > 76]
        assert not wide, f"pictures must fit an 80-column terminal: {wide}"
    assert any(s.section == "Try it" for s in lesson.steps()), "no commands to try"
    assert lesson.checks, "a lesson needs a check"
    for spec in lesson.checks:
        assert spec["kind"] in CHECKS
    assert lesson.solution(), "the hint needs a solution to fall back on"
    shown = lesson.markdown()
    assert "## Hint" not in shown and "## Solution" not in shown
    assert not re.search(r"```console \S", shown), "runner words leak into what learners see"


def test_snippets_are_included_when_present():
    text = (lessons_dir() / "18-source-and-sink.md").read_text()
    assert "<!-- include: _snippets/spark.md -->" in text
    lesson = next(x for x in LESSONS if x.number == 18)
    assert "<!-- include:" not in lesson.body
    snippet = lessons_dir() / "_snippets" / "spark.md"
    if snippet.exists():
        first = next(line for line in snippet.read_text().splitlines() if line.strip())
        assert first in lesson.body


def test_output_matching_is_ordered_loose_and_honest():
    actual = normalize("\x1b[1mCreated\x1b[0m topic  x\r\nnoise\r\nread   3 records\r\n")
    assert actual == ["Created topic x", "noise", "read 3 records"]
    assert match_output(["Created topic x", "read ... records"], actual) is None
    assert match_output(["read 3 records", "Created topic x"], actual) is not None
    assert match_output(["Deleted topic x"], actual) is not None


def test_fresh_learner_is_greeted_and_pointed_at_lesson_one(kcli):
    out = kcli("learn")
    assert out.returncode == 0, out.stderr
    assert "Welcome" in out.stdout
    assert "kcli learn show 1" in out.stdout
    assert LESSONS[0].title in out.stdout


def test_check_fails_then_passes_and_progress_is_saved(kcli, data_dir):
    fail = kcli("learn", "check")
    assert fail.returncode == 1
    assert "topic 'hello' does not exist yet" in fail.stdout
    assert kcli("topic", "create", "hello").returncode == 0
    assert kcli("produce", "hello", "a", "b").returncode == 0
    still = kcli("learn", "check", "1")
    assert still.returncode == 1
    assert "topic 'hello' has 2 records; the exercise wants at least 3" in still.stdout
    kcli("produce", "hello", "c")
    kcli("topic", "create", "signups")
    kcli("produce", "signups", "x", "y", "z")
    ok = kcli("learn", "check")
    assert ok.returncode == 0, ok.stdout
    assert "✓ Lesson 1 passed." in ok.stdout
    # The pass is kept under the lesson's slug; the learner stays on it until `next`.
    progress = json.loads((data_dir / "learn" / "progress.json").read_text())
    assert list(progress["passed"]) == ["what-is-kafka"]
    assert progress["current"] == "what-is-kafka"
    assert re.search(r"^Next: lesson 2 \(.*\): kcli learn next$", ok.stdout, re.M)
    listing = kcli("learn", "list")
    assert re.search(r"1\s+What Kafka is\s+◀ you are here\s+✓", listing.stdout)
    status = kcli("learn")
    assert "1 of" in status.stdout and "lesson 1" in status.stdout
    assert "Next step: kcli learn next" in status.stdout
    nxt = kcli("learn", "next", "--no-pager")
    assert nxt.returncode == 0 and nxt.stderr == "", nxt.stderr
    assert "# 2." in nxt.stdout or "2. Why not just a socket?" in nxt.stdout
    assert [p.name for p in (data_dir / "learn").iterdir()] == ["progress.json"]


def test_show_hint_next_and_reset(kcli, data_dir):
    show = kcli("learn", "show", "7")
    assert show.returncode == 0
    assert "Offsets" in show.stdout and "kcli learn check" in show.stdout
    assert "refund 30" in show.stdout  # the exercise...
    assert 'deposit 10"' not in show.stdout  # ...but not its solution
    hint = kcli("learn", "hint")  # the lesson just shown is the current one
    assert "offset 2" in hint.stdout and "--solution" in hint.stdout
    solution = kcli("learn", "hint", "--solution")
    assert 'deposit 10"' in solution.stdout
    nxt = kcli("learn", "next")
    assert nxt.returncode == 0 and "Keys and partitioning" in nxt.stdout
    assert "has not passed its check yet" in nxt.stderr
    kcli("topic", "create", "ledger", "--partitions", "2")
    refused = kcli("learn", "reset", "7")
    assert (
        refused.returncode == 1
        and refused.stderr.startswith("Error:")
        and "--yes" in refused.stderr
    )
    reset = kcli("learn", "reset", "7", "--yes")
    assert reset.returncode == 0, reset.stderr
    assert "topic ledger" in reset.stdout
    assert "ledger" not in kcli("topic", "list").stdout


def test_unknown_lesson_is_one_clear_error(kcli):
    out = kcli("learn", "show", "99")
    assert out.returncode == 1
    assert out.stderr.startswith("Error: there is no lesson 99; lessons are numbered 1 to")
    assert "Traceback" not in out.stderr


def test_lesson_8_says_which_clients_pick_the_same_partition():
    """confluent-kafka's default (librdkafka's consistent_random: CRC32) puts alice elsewhere;
    the lesson says so and how to match, instead of "any Kafka client"."""
    import zlib

    from storage import partition_for_key

    text = " ".join(next(x for x in LESSONS if x.number == 8).body.split())
    assert "any Kafka client" not in text
    assert partition_for_key(b"alice", 4) == 1
    assert zlib.crc32(b"alice") % 4 == 3  # what librdkafka's default picks
    assert "consistent_random" in text and "partition 3 of 4" in text
    assert '"partitioner": "murmur2_random"' in text


def test_lesson_2_says_the_tiny_socket_buffers_are_the_demos_setting():
    from kcli.demos.socket_vs_log import BUFFER_BYTES

    text = " ".join(next(x for x in LESSONS if x.number == 2).body.split())
    assert "The socket buffers only a few kilobytes" not in text
    assert f"the demo asks for tiny ones ({BUFFER_BYTES // 1024} KB)" in text
    assert "Linux's defaults are larger" in text


def test_lessons_6_and_10_tell_one_story_of_partitions_on_brokers():
    six = " ".join(next(x for x in LESSONS if x.number == 6).body.split())
    ten = next(x for x in LESSONS if x.number == 10).body
    assert "each partition lives on a different broker" not in six
    assert "the partitions are" in six and "leading a few (lesson 10)" in six
    assert re.search(r"leader\s+p0 p4\s+p1 p5", ten)  # two leaders per broker
