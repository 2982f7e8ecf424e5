"""`kcli demo spark`: the lesson 18 pipeline end to end, and what it says without pyspark."""

from __future__ import annotations

from tests.spark.helpers import require_spark

require_spark()

import subprocess
import sys

from kcli.demos.spark import SINK, SOURCE, direct_totals, run_spark_demo


def test_spark_demo_runs_and_proves_exactly_once(spark, data_dir, capsys):
    lines = run_spark_demo(data_dir, fast=True)
    shown = capsys.readouterr().out

    assert "What this demo showed" in shown
    for line in lines:
        assert line.split(" (")[0] in " ".join(shown.split())
    assert lines[0].startswith("Spark read all ")
    assert "equals a direct sum over the topic" in lines[1]
    assert "appended nothing" in lines[2] and "exactly once" in lines[2]
    assert f"kcli consume {SINK}" in lines[3]

    # The claims hold in the store: the latest total per store is the sum of its purchases.
    import json
    from decimal import Decimal

    from storage import Store

    store = Store(data_dir)
    latest = {}
    for p in range(store.topic(SINK).partitions):
        for record in store.log(SINK, p).read_records(0):
            latest[record.key.decode()] = json.loads(record.value)
    expected = direct_totals(store)
    assert expected and sum(n for _, n in expected.values()) == sum(
        store.log(SOURCE, p).log_end_offset for p in range(store.topic(SOURCE).partitions)
    )
    assert {k: (Decimal(str(v["total"])), v["purchases"]) for k, v in latest.items()} == expected


def test_without_pyspark_the_demo_says_how_to_install_it(data_dir):
    script = (
        "import sys; sys.modules['pyspark'] = None\n"
        "from kcli.app import main\n"
        f"main(['--data-dir', {str(data_dir)!r}, 'demo', 'spark', '--fast'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert result.stderr.startswith("Error: ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "pip install 'kcli-kafka[spark]'" in result.stderr
    assert "pip install '.[spark]'" in result.stderr
    assert not data_dir.exists()  # nothing on disk changed
