"""Idempotent producers: retries are not appended twice, in any process, after any restart."""

from __future__ import annotations

import struct
import subprocess
import sys

import pytest
from crc32c import crc32c
from kafka.record.default_records import DefaultRecordBatchBuilder

from storage import FakeClock, ProducerRecord, Store
from storage.errors import DuplicateSequence, InvalidProducerEpoch, OutOfOrderSequence
from storage.producer_state import ProducerState
from storage.records import encode_batch

T0 = 1_700_000_000_000


def open_log(data_dir, **config):
    store = Store(data_dir, clock=FakeClock(T0))
    if not store.topic_exists("t"):
        store.create_topic("t", 1, {k.replace("_", "."): str(v) for k, v in config.items()})
    return store.log("t", 0)


def batch(pid, epoch, seq, n=3, tag=b""):
    records = [ProducerRecord(b"%d-%d-%d%s" % (pid, seq, i, tag)) for i in range(n)]
    return encode_batch(
        records, timestamp=T0, producer_id=pid, producer_epoch=epoch, base_sequence=seq
    )


def test_a_retry_returns_the_first_offsets_and_writes_nothing(data_dir):
    log = open_log(data_dir)
    log.append_records([ProducerRecord(b"plain")])
    first = log.append(batch(7, 0, 0))
    assert (first.base_offset, first.last_offset, first.duplicate) == (1, 3, False)
    size = log.size_bytes()
    again = log.append(batch(7, 0, 0))
    assert (again.base_offset, again.last_offset, again.duplicate) == (1, 3, True)
    assert log.size_bytes() == size and log.log_end_offset == 4
    nxt = log.append(batch(7, 0, 3))
    assert (nxt.base_offset, nxt.duplicate) == (4, False)


def test_the_last_five_batches_are_remembered(data_dir):
    log = open_log(data_dir)
    infos = [log.append(batch(1, 0, 3 * i)) for i in range(6)]
    for i in range(1, 6):
        retry = log.append(batch(1, 0, 3 * i))
        assert retry.duplicate and retry.base_offset == infos[i].base_offset
    # The sixth-newest is forgotten, as in Kafka: it can only be out of order now.
    with pytest.raises(OutOfOrderSequence):
        log.append(batch(1, 0, 0))


def test_sequence_gaps_and_old_epochs_are_refused(data_dir):
    log = open_log(data_dir)
    log.append(batch(3, 0, 0))
    size = log.size_bytes()
    with pytest.raises(OutOfOrderSequence, match="sent sequence 5 but the partition expects 3"):
        log.append(batch(3, 0, 5))
    with pytest.raises(OutOfOrderSequence, match="must start at sequence 0"):
        log.append(batch(3, 1, 3))
    assert log.size_bytes() == size
    log.append(batch(3, 1, 0))  # a new epoch starts again at 0
    with pytest.raises(InvalidProducerEpoch, match="fenced"):
        log.append(batch(3, 0, 3))
    # A producer id the partition has never seen may start anywhere (retention may have
    # deleted its earlier batches).
    assert log.append(batch(4, 2, 1000)).base_offset == log.log_end_offset - 3
    # Sequences wrap after 2**31-1.
    log.append(batch(5, 0, 2**31 - 2))  # 2147483646 .. 0
    assert not log.append(batch(5, 0, 1)).duplicate


def test_several_batches_in_one_call(data_dir):
    log = open_log(data_dir)
    a, b, c = batch(8, 0, 0), batch(8, 0, 3), batch(8, 0, 6)
    info = log.append([a, b])
    assert (info.base_offset, info.last_offset) == (0, 5)
    retry = log.append([a, b])
    assert (retry.base_offset, retry.last_offset, retry.duplicate) == (0, 5, True)
    with pytest.raises(DuplicateSequence):
        log.append([b, c])
    with pytest.raises(OutOfOrderSequence):
        log.append([c, batch(8, 0, 10)])  # the second does not follow the first
    assert log.log_end_offset == 6
    assert log.append([c, batch(8, 0, 9)]).last_offset == 11


def test_append_records_with_a_producer_id(data_dir):
    log = open_log(data_dir, max_message_bytes=2000)
    records = [ProducerRecord(b"x" * 100) for _ in range(50)]  # several batches
    args = dict(producer_id=11, producer_epoch=0, base_sequence=0)
    info = log.append_records(records, **args)
    assert info.count == 50
    retry = log.append_records(records, **args)
    assert retry.duplicate and (retry.base_offset, retry.last_offset) == (0, 49)
    assert log.append_records(records[:1], producer_id=11, producer_epoch=0, base_sequence=50)


def test_kafka_python_idempotent_batches(data_dir):
    log = open_log(data_dir)

    def build(seq):
        builder = DefaultRecordBatchBuilder(2, 0, False, 42, 0, seq, 1 << 20)
        for i in range(4):
            builder.append(i, timestamp=T0, key=None, value=b"%d" % (seq + i), headers=[])
        return bytes(builder.build())

    assert log.append(build(0)).base_offset == 0
    assert log.append(build(0)).duplicate
    assert log.append(build(4)).base_offset == 4


def test_state_survives_a_restart_and_is_shared_between_processes(data_dir):
    log = open_log(data_dir)
    log.append(batch(21, 0, 0))
    # A new store (as after a restart) rebuilds the state from the log.
    assert open_log(data_dir).append(batch(21, 0, 0)).duplicate
    # Another process appends the next batch; this one sees it.
    script = (
        "import sys\n"
        "from storage import Store\n"
        "from storage.records import ProducerRecord, encode_batch\n"
        "log = Store(sys.argv[1]).log('t', 0)\n"
        "records = [ProducerRecord(b'21-3-%d' % i) for i in range(3)]\n"
        "b = encode_batch(records, timestamp=1, producer_id=21, producer_epoch=0, base_sequence=3)\n"
        "info = log.append(b)\n"
        "print(info.base_offset, info.duplicate)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(data_dir)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["3", "False"]
    retry = log.append(batch(21, 0, 3))
    assert retry.duplicate and retry.base_offset == 3
    assert log.append(batch(21, 0, 6)).base_offset == 6
    # And the other way round: the child retries what this process appended.
    script = script.replace("base_sequence=3", "base_sequence=6").replace("21-3-", "21-6-")
    out = subprocess.run(
        [sys.executable, "-c", script, str(data_dir)], capture_output=True, text=True, timeout=120
    )
    assert out.stdout.split() == ["6", "True"], out.stderr


def read_snapshot(path):
    """Kafka's producer snapshot v1: version, crc, entries (one per remembered batch)."""
    data = path.read_bytes()
    version, crc = struct.unpack_from(">hI", data, 0)
    assert version == 1 and crc == crc32c(data[6:])
    (count,) = struct.unpack_from(">i", data, 6)
    assert len(data) == 10 + count * 46
    return [struct.unpack_from(">qhiqiqiq", data, 10 + 46 * i) for i in range(count)]


def test_snapshots_at_rolls_are_kafkas_format_and_follow_retention(data_dir):
    log = open_log(data_dir, segment_bytes=1000, retention_bytes=3000)
    for i in range(40):
        log.append(batch(5, 0, 3 * i, tag=b"-" * 50))
    bases = [s.base_offset for s in log.segments()]
    snapshots = sorted(p.name for p in log.directory.glob("*.snapshot"))
    assert bases[0] > 0  # retention ran
    assert snapshots == [f"{b:020d}.snapshot" for b in bases if b > 0]
    entries = read_snapshot(log.directory / snapshots[-1])
    base = bases[-1]
    # (producerId, epoch, lastSequence, lastOffset, offsetDelta, timestamp, coordinatorEpoch,
    # currentTxnFirstOffset) for each of the last (up to five) batches, oldest first.
    assert entries[-1] == (5, 0, base - 1, base - 1, 2, T0, -1, -1)
    assert [e[3] for e in entries] == [base - 1 - 3 * k for k in range(len(entries))][::-1]
    assert 1 <= len(entries) <= 5


def test_a_restart_loads_the_newest_snapshot(data_dir):
    log = open_log(data_dir, segment_bytes=1000)
    for i in range(10):
        log.append(batch(5, 0, 3 * i, tag=b"-" * 50))
    active = log.segments()[-1].base_offset
    # Hand-write a snapshot at the active segment's base naming a producer the log never saw:
    # only a process that loads the snapshot can know it.
    state = ProducerState(log.directory)
    assert state.load_snapshot(active)
    state.apply_header(999, 0, 0, active - 42, 41, T0)  # sequences 0..41
    state.write_snapshot()
    fresh = open_log(data_dir)
    with pytest.raises(OutOfOrderSequence, match="expects 42"):
        fresh.append(batch(999, 0, 50))
    assert fresh.append(batch(5, 0, 27, tag=b"-" * 50)).duplicate  # from the log after it
    # A damaged snapshot is ignored: producer 999 is unknown again, and the snapshot is
    # written anew from the log while catching up across that segment boundary.
    path = log.directory / f"{active:020d}.snapshot"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    fresh = open_log(data_dir)
    assert not fresh.append(batch(999, 0, 500)).duplicate
    assert [e[0] for e in read_snapshot(path)] == [5] * 5


def test_a_long_catch_up_leaves_a_snapshot(data_dir):
    log = open_log(data_dir)
    other = Store(data_dir, clock=FakeClock(T0)).log("t", 0)
    log.append(batch(1, 0, 0))
    other.append([batch(2, 0, 3 * i, n=3) for i in range(1200)], fsync=False)
    end = log.log_end_offset
    assert not list(log.directory.glob("*.snapshot"))
    assert log.append(batch(2, 0, 3 * 1199)).duplicate
    assert (log.directory / f"{end:020d}.snapshot").exists()


def test_recover_removes_snapshots_beyond_the_log_end(data_dir):
    log = open_log(data_dir)
    log.append(batch(1, 0, 0))
    state = ProducerState(log.directory)
    state.reset(500)
    state.write_snapshot()
    report = log.recover()
    assert f"{500:020d}.snapshot" in report.removed_files
    assert not list(log.directory.glob("*.snapshot"))
    assert log.append(batch(1, 0, 0)).duplicate
