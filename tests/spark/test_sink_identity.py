"""The sink's producer identities against the real log, without Spark: what a replayed task does.

A task's writer is driven directly with Arrow batches, as Spark drives it, so the crash cases
can be set up exactly: a whole replay, a replay after a torn write, a replay that differs.
"""

from __future__ import annotations

from tests.spark.helpers import require_spark

require_spark()

import pyarrow as pa
import pytest

from pyspark_kcli.options import parse_sink_options
from pyspark_kcli.sink import BATCHES_PER_PRODUCER_ID, _TaskWriter
from storage import Store
from storage.errors import OutOfOrderSequence
from storage.records import read_header, split_batches

ROWS = 300


def run_task(data_dir, values: list[str], *, batch_id: int = 7, task: int = 1):
    writer = _TaskWriter(
        parse_sink_options({"path": str(data_dir), "topic": "out"}), "query-1", batch_id, task
    )
    batch = pa.record_batch(
        {
            "value": pa.array(values, pa.string()),
            "partition": pa.array([0] * len(values), pa.int32()),
        }
    )
    writer.add_arrow(batch)
    return writer.flush()


def values_in(store) -> list[str]:
    return [r.value.decode() for r in store.log("out", 0).read_records(0)]


@pytest.fixture
def small_batches(store):
    # max.message.bytes this small cuts a task's 300 rows into about a dozen RecordBatches,
    # more than one producer id's window of 5.
    store.create_topic("out", 1, {"max.message.bytes": "2048"})
    return [f"row {i:04d} " + "x" * 60 for i in range(ROWS)]


def test_a_replayed_task_appends_nothing(store, data_dir, small_batches):
    first = run_task(data_dir, small_batches)
    assert first.appended == {"out-0": ROWS}
    batches = split_batches(store.log("out", 0).read(0, 1 << 24).records)
    assert len(batches) > 2 * BATCHES_PER_PRODUCER_ID
    assert len({read_header(b).producer_id for b in batches}) == -(-len(batches) // 5)

    again = run_task(data_dir, small_batches)
    assert again.appended == {} and again.duplicates == ROWS
    assert values_in(store) == small_batches

    # The next micro-batch is a new epoch of the same producers: appended, not a duplicate.
    following = run_task(data_dir, small_batches[:10], batch_id=8)
    assert following.appended == {"out-0": 10}


def test_a_replay_after_a_torn_write_appends_only_the_rest(store, data_dir, small_batches):
    run_task(data_dir, small_batches)
    log = store.log("out", 0)
    batches = split_batches(log.read(0, 1 << 24).records)
    # A crash in the middle of the 8th batch: 7 whole batches and part of one are on disk.
    keep = sum(len(b) for b in batches[:7]) + 30
    segment = log.segments()[0].path
    with open(segment, "r+b") as f:
        f.truncate(keep)
    store.close()

    reopened = Store(data_dir)
    reopened.log("out", 0).recover()
    survived = values_in(reopened)
    assert 0 < len(survived) < ROWS

    replay = run_task(data_dir, small_batches)
    assert replay.duplicates == len(survived)
    assert replay.appended == {"out-0": ROWS - len(survived)}
    assert values_in(reopened) == small_batches  # every row once, in order


def test_a_replay_that_sends_other_rows_is_refused(store, data_dir, small_batches):
    run_task(data_dir, small_batches)
    end = store.log("out", 0).log_end_offset
    with pytest.raises(OutOfOrderSequence):
        run_task(data_dir, small_batches[5:])
    assert store.log("out", 0).log_end_offset == end
