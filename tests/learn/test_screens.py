"""What a learner sees on a real 80-column terminal: each command runs on a pseudo-terminal and
its output is replayed through a terminal emulator (see screen.py), so a progress bar left
behind, a header cut short or a line broken mid-sentence shows exactly as on screen."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from kcli.docgen import commands
from kcli.learn.terminal import shell_path
from learn.screen import Terminal, run_on_screen
from tests.conftest import run_kcli


def _ok(data_dir, *args):
    out = run_kcli(data_dir, *args)
    assert out.returncode == 0, out.stderr
    return out


# -- item 5: log dump's progress bar ------------------------------------------------------------


@pytest.mark.parametrize("columns", [80, 140])
def test_log_dump_leaves_no_progress_bar_behind(data_dir, columns):
    _ok(data_dir, "topic", "create", "ledger", "--config", "segment.bytes=1024")
    for batch in range(3):  # one batch each, so three segments
        _ok(data_dir, "produce", "ledger", *[f"entry {batch}-{i}" for i in range(100)])
    screen = run_on_screen("kcli log dump ledger; echo END", data_dir, columns, 200)
    text = "\n".join(screen)
    assert "END" in text
    assert "Reading ledger-0" not in text, text
    segments = [line for line in screen if "Segment ledger-0/" in line]
    assert len(segments) >= 2 and all(line.startswith("Segment ") for line in segments), text


# -- item 8: headers stay whole -----------------------------------------------------------------


_HEADER_WORDS = re.compile(r"[A-Z#][A-Z#-]+")


def _headers(screen: list[str], first: str) -> set[str]:
    """The words of the (one- or two-line) table header whose last line starts with
    ``first``."""
    for i, line in enumerate(screen):
        if line.strip().startswith(first):
            above = screen[i - 1] if i and screen[i - 1].strip().isupper() else ""
            return set(_HEADER_WORDS.findall(above + " " + line))
    raise AssertionError(f"no header starting {first!r}:\n" + "\n".join(screen))


def test_group_describe_keeps_every_header_whole_at_80_columns(data_dir):
    _ok(data_dir, "topic", "create", "iot-readings", "--partitions", "6")
    _ok(data_dir, "produce", "iot-readings", "--key", "device-1", "21")
    _ok(data_dir, "consume", "iot-readings", "--group", "alerts")
    screen = run_on_screen("kcli group describe alerts", data_dir, 80, 60)
    words = _headers(screen, "TOPIC")
    assert {"TOPIC", "PARTITION", "CURRENT-", "LOG-END-", "OFFSET", "LAG", "CONSUMER-ID"} <= words
    assert all(len(line) <= 80 for line in screen)


def _consumers(data_dir, topic: str, group: str, n: int):
    return [
        subprocess.Popen(
            [sys.executable, "-m", "kcli", "--data-dir", str(data_dir), "consume", topic]
            + ["--group", group, "--follow"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(n)
    ]


def test_group_watch_header_does_not_wrap_and_columns_stay_whole(data_dir):
    _ok(data_dir, "topic", "create", "purchases", "--partitions", "4")
    _ok(data_dir, "produce", "purchases", *[f"purchase {i}" for i in range(40)])
    consumers = _consumers(data_dir, "purchases", "billing", 2)
    term = Terminal("kcli group watch billing", data_dir, 80, 30)
    try:
        deadline = time.monotonic() + 90
        while not re.search(r"Stable .* 2 member\(s\)", term.text()):
            assert time.monotonic() < deadline, term.text()
            time.sleep(0.5)
        time.sleep(1.5)  # one more refresh, whole
        screen = term.lines()
        first = next(i for i, line in enumerate(screen) if "member(s)" in line)
        assert screen[first + 1].strip() == "", "\n".join(screen)  # the header did not wrap
        assert {"CURRENT-", "OFFSET", "LAG", "CONSUMER-ID"} <= _headers(screen, "TOPIC")
        assert {"CONSUMER-ID", "#PARTITIONS", "ASSIGNMENT", "HEARTBEAT"} <= _headers(
            screen, "CONSUMER-ID"
        )
        assert any(line.startswith("refresh ") for line in screen)
        term.interrupt()
        assert term.wait(30) in (0, 130)
        assert "Traceback" not in term.text()
    finally:
        term.close()
        for proc in consumers:
            proc.send_signal(signal.SIGINT)
            proc.wait(30)


# -- item 10: help that reads whole -------------------------------------------------------------


def premature_breaks(text: str, width: int = 80) -> list[tuple[str, str]]:
    """Pairs of lines where the first ends although the next line's first word would still
    have fit on it: a sentence broken by a line break in the help text, not by the width.

    Prose outside the boxes and the entries of the Commands box are judged; typer lays out
    the Options and Arguments boxes itself."""
    found = []
    lines = text.splitlines()
    box = ""
    for a, b in zip(lines, lines[1:], strict=False):
        if a.startswith("╭"):
            box = a
        if a.startswith("╰"):
            box = ""
        in_box = a.startswith("│")
        if in_box and "Commands" not in box:
            continue
        ta = a[1:].rstrip().removesuffix("│").rstrip() if in_box else a.rstrip()
        tb = b[1:].rstrip().removesuffix("│").rstrip() if in_box else b.rstrip()
        if not ta.strip() or not tb.strip() or b.startswith(("╭", "╰")):
            continue
        ia, ib = len(ta) - len(ta.lstrip()), len(tb) - len(tb.lstrip())
        continues = ib > 1 if in_box else ib == ia
        room = width - 3 if in_box else width - 1
        if continues and len(ta) + 1 + len(tb.split()[0]) <= room:
            found.append((a.rstrip(), b.rstrip()))
    return found


def test_no_help_text_breaks_mid_sentence_at_80_columns(tmp_path):
    env = {**os.environ, "COLUMNS": "80", "TERM": "xterm-256color"}
    env.pop("KCLI_DATA_DIR", None)
    broken = []
    for path in ["kcli", *commands()]:
        args = [*path.split()[1:], "--help"]
        out = subprocess.run(
            [sys.executable, "-m", "kcli", "--data-dir", str(tmp_path / "d"), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        broken += [(path, a, b) for a, b in premature_breaks(out.stdout)]
    assert not broken, "\n".join(f"{p}:\n  {a}\n  {b}" for p, a, b in broken)


def test_the_break_finder_finds_a_broken_sentence():
    broken = " Prints the plan and changes nothing unless\n --execute is given.\n"
    assert premature_breaks(broken)
    whole = " " + "word " * 15 + "\n next line\n"
    assert not premature_breaks(whole)


def test_topic_create_prints_only_what_the_lessons_show(data_dir):
    screen = run_on_screen("kcli topic create hello", data_dir, 80, 10)
    assert [line for line in screen if line] == ["Created topic hello with 1 partition."]


# -- kcli learn watch on a terminal -------------------------------------------------------------


@pytest.fixture
def short_data_dir():
    """A store with a short path, as a learner's usually is, so that the commands shown for
    another terminal fit on their lines."""
    top = Path(tempfile.mkdtemp(prefix="kl-"))
    yield top / "data"
    shutil.rmtree(top, ignore_errors=True)


def test_watch_turns_lines_green_and_moves_on_then_ctrl_c_leaves_cleanly(short_data_dir):
    data_dir = short_data_dir
    term = Terminal("kcli learn watch", data_dir, 80, 30)
    try:
        term.wait_for("Lesson 1: What Kafka is")
        term.wait_for("✗ topic 'hello' does not exist yet")
        # What to type in the other terminal, whole.
        assert f"export KCLI_DATA_DIR={shell_path(data_dir.resolve())}" in term.text()
        _ok(data_dir, "topic", "create", "hello")
        _ok(data_dir, "produce", "hello", "a", "b", "c")
        term.wait_for("✓ topic 'hello' has 3 records")
        row = next(
            y for y, line in enumerate(term.lines()) if "topic 'hello' has 3 records" in line
        )
        assert term.screen.buffer[row][4].fg == "green"  # the met requirement turned green
        assert "✗ topic 'signups'" in term.text()
        _ok(data_dir, "topic", "create", "signups")
        _ok(data_dir, "produce", "signups", "x", "y", "z")
        term.wait_for("Lesson 2: Why not just a socket?")
        assert "✓ Lesson 1 passed." in term.text()
        assert all(len(line) <= 80 for line in term.lines())
        term.interrupt()
        assert term.wait(30) in (0, 130)
        assert "Traceback" not in term.text()
    finally:
        term.close()
    listing = _ok(data_dir, "learn", "list").stdout
    assert re.search(r"1\s+What Kafka is\s+✓", listing)
    assert re.search(r"2\s+Why not just a socket\?\s+◀ you are here", listing)
