"""A SparkSession shared by the Spark tests (starting one costs 10-20 s), and a store.

Without the spark extra (pyspark, pyarrow) every module here is skipped, saying so: each
starts with ``require_spark()`` (tests/spark/helpers.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def spark():
    """local[2], Python workers on this interpreter; format("kcli") found by PySpark's lookup
    (see pyspark_kcli.session)."""
    from pyspark_kcli.session import local_session

    session = local_session(
        "kcli-tests",
        {
            "spark.default.parallelism": "2",
            "spark.sql.streaming.stopTimeout": "60s",
            # Report idle triggers every second, so a test can see a query has caught up.
            "spark.sql.streaming.noDataProgressEventInterval": "1s",
        },
    )
    yield session
    session.stop()


@pytest.fixture
def store(data_dir):
    from storage import Store

    s = Store(data_dir)
    yield s
    s.close()
