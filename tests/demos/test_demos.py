"""Demos: each runs in the lessons (on a terminal, checked there with ``summaries``); here they
run in a pipe, and every demo is shown to be used by some lesson."""

from __future__ import annotations

import re

import pytest

from kcli.learn.lessons import all_lessons

from .summaries import CHECKS, summary_text


def _ok(out) -> str:
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "Traceback" not in out.stderr
    return summary_text(out.stdout)


def test_every_demo_is_run_by_a_lesson_and_has_a_summary_check(kcli):
    listed = set(re.findall(r"│ (\w[\w-]+)\s", kcli("demo", "--help").stdout)) - {"spark"}
    assert listed == set(CHECKS), listed
    run_by_lessons = {
        m.group(1)
        for lesson in all_lessons()
        for step in lesson.steps()
        if (m := re.match(r"kcli demo ([\w-]+)", step.command))
    }
    assert set(CHECKS) <= run_by_lessons


@pytest.mark.parametrize("name", ["retention", "queue-vs-log", "cluster", "compaction"])
def test_demo_in_a_pipe(kcli, name):
    CHECKS[name](_ok(kcli("demo", name, "--fast")))


def test_pipeline_writes_one_invoice_file_per_purchase(kcli, data_dir):
    text = _ok(kcli("demo", "pipeline", "--fast"))
    CHECKS["pipeline"](text)
    (purchases,) = map(int, re.search(r"produced (\d+) purchases", text).groups())
    files = list((data_dir / "demo-pipeline" / "invoices").rglob("INV-*.txt"))
    assert len(files) == purchases
    assert "Total:" in files[0].read_text()


def test_cluster_refuses_more_replicas_than_brokers(kcli):
    out = kcli("demo", "cluster", "--fast", "--brokers", "2")
    assert out.returncode == 1
    assert out.stderr.startswith("Error: a replication factor of 3 needs at least 3 brokers")


def test_spark_demo_is_wired(kcli):
    out = kcli("demo", "spark", "--help")
    assert out.returncode == 0 and "Spark" in out.stdout
