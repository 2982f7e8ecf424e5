"""The demos' labels agree with what the demos show, on an 80-column terminal."""

from __future__ import annotations

import re

from learn.screen import run_on_screen


def test_pubsub_says_when_each_group_joined_not_a_start_offset(data_dir):
    screen = run_on_screen("kcli demo pubsub --fast", data_dir, 80, 60)
    text = "\n".join(screen)
    words = " ".join(line.strip("│ ") for line in screen)  # the summary box's lines joined
    assert "started at offset" not in text
    header = next(line for line in screen if line.startswith("consumer group"))
    assert "joined when published" in header
    archive = next(line for line in screen if line.startswith("demo-pubsub-archive"))
    joined = int(archive.split()[2])
    assert joined > 0  # it joined late...
    assert f"'archive' started when {joined} records had been published" in words
    assert "still read from offset 0" in words  # ...and read everything from 0


def test_retention_says_when_a_deleted_segment_was_written_and_deleted(data_dir):
    screen = run_on_screen("kcli demo retention --fast", data_dir, 80, 60)
    deleted = [line for line in screen if line.startswith("deleted: ")]
    assert deleted, "\n".join(screen)
    for line in deleted:
        m = re.search(r"\(written day (\d+), deleted day (\d+)\)$", line)
        assert m, line
        assert int(m.group(1)) < int(m.group(2))
    assert all(len(line) <= 80 for line in screen)
    head = next(line for line in screen if line.startswith("Day "))
    assert "retention.ms" in head
