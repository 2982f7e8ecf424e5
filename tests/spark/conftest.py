"""A SparkSession shared by the Spark tests (starting one costs 10-20 s), and a store."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import pyspark_kcli

PACKAGE_ROOT = str(Path(pyspark_kcli.__file__).resolve().parent.parent)


@pytest.fixture(scope="session")
def spark():
    """local[2], Python workers on this interpreter; format("kcli") found by PySpark's lookup.

    PySpark discovers top-level ``pyspark_*`` modules on its workers' sys.path.  An installed
    wheel is there already; a development (editable) install is not, so its root is added.
    """
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if PACKAGE_ROOT not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([PACKAGE_ROOT, *filter(None, paths)])
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("kcli-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.streaming.stopTimeout", "60s")
        # Report idle triggers every second, so a test can see a query has caught up.
        .config("spark.sql.streaming.noDataProgressEventInterval", "1s")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture
def store(data_dir):
    from storage import Store

    s = Store(data_dir)
    yield s
    s.close()
