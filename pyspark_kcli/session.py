"""A local SparkSession that finds ``format("kcli")``: for the demo, the tests and benchmarks."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)


def local_session(app_name: str, conf: Mapping[str, str] | None = None):
    """``local[2]`` with the UI and progress bars off, running its Python workers on this
    interpreter, plus the ``conf`` given; an existing session is returned as it is.

    PySpark finds ``format("kcli")`` by importing top-level ``pyspark_*`` modules on its
    workers' path.  An installed wheel is there already; a development (editable) install is
    not, so this package's folder is put on ``PYTHONPATH`` first.
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if PACKAGE_ROOT not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([PACKAGE_ROOT, *paths])
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master("local[2]")
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
    )
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session
