"""Helpers for the Spark tests: append through the storage API, read a topic back, poll."""

from __future__ import annotations

import functools

from tests import waiting
from tests.privileges import cannot_run_here

SPARK_EXTRA = (
    "the Spark tests need the spark extra (pyspark, pyarrow): pip install -e '.[test,spark]'"
)


def require_spark() -> None:
    """Skip the calling test module, with the reason, when pyspark or pyarrow is missing (a
    failure under CI, which installs the spark extra)."""
    import importlib.util

    if any(importlib.util.find_spec(name) is None for name in ("pyspark", "pyarrow")):
        cannot_run_here(SPARK_EXTRA)


def produce(store, topic: str, partition: int, values: list[str], *, keys=None, headers=()):
    """Append records to one partition through the storage API; returns their offsets."""
    from storage import ProducerRecord

    keys = keys or [None] * len(values)
    records = [
        ProducerRecord(v.encode(), None if k is None else k.encode(), tuple(headers))
        for v, k in zip(values, keys, strict=True)
    ]
    info = store.log(topic, partition).append_records(records)
    return list(range(info.base_offset, info.last_offset + 1))


def topic_values(store, topic: str) -> dict[int, list[str]]:
    """Every value in every partition of ``topic``, in offset order."""
    out = {}
    for p in range(store.topic(topic).partitions):
        records = store.log(topic, p).read_records(0)
        out[p] = [r.value.decode() for r in records]
    return out


# A streaming query's trigger can take minutes on a loaded 2-core machine.
wait_for = functools.partial(waiting.wait_for, timeout=180.0, interval=0.2)
