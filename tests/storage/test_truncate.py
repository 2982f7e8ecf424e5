"""Log.truncate_to: what a follower does with a divergent tail (KIP-101)."""

from storage import Store


def _fill(log, n, batch=10, pid=-1):
    for i in range(0, n, batch):
        log.append_records([f"r{j}".encode() for j in range(i, i + batch)])


def test_truncate_within_and_across_segments(tmp_path):
    store = Store(tmp_path)
    store.create_topic("t", 1, {"segment.bytes": "2000"})
    log = store.log("t", 0)
    _fill(log, 400)
    assert len(log.segments()) > 2
    assert log.truncate_to(155) == 150  # the batch holding 155 starts at 150 and goes whole
    assert log.log_end_offset == 150
    # Appends continue from there and reads see exactly what is left.
    info = log.append_records([b"new"])
    assert info.base_offset == 150
    values = [r.value for r in log.read_records(140, 20)]
    assert values == [f"r{j}".encode() for j in range(140, 150)] + [b"new"]
    log.check()
    # A fresh process sees the same.
    again = Store(tmp_path).log("t", 0)
    assert again.log_end_offset == 151
    again.check()


def test_truncate_to_zero_and_past_the_end(tmp_path):
    store = Store(tmp_path)
    store.create_topic("t", 1)
    log = store.log("t", 0)
    _fill(log, 30)
    assert log.truncate_to(99) == 30
    assert log.truncate_to(0) == 0
    assert log.read_records(0, 10) == []
    assert log.append_records([b"x"]).base_offset == 0


def test_truncate_rebuilds_producer_state(tmp_path):
    store = Store(tmp_path)
    store.create_topic("t", 1)
    log = store.log("t", 0)
    for seq in range(0, 30, 10):
        log.append_records([b"v"] * 10, producer_id=7, producer_epoch=0, base_sequence=seq)
    log.truncate_to(20)
    # The batch with sequence 20 is gone, so sending it again is new, not a duplicate.
    info = log.append_records([b"v"] * 10, producer_id=7, producer_epoch=0, base_sequence=20)
    assert info.base_offset == 20 and not info.duplicate
    # And sending the batch at sequence 10 again is a duplicate of what is still there.
    dup = log.append_records([b"v"] * 10, producer_id=7, producer_epoch=0, base_sequence=10)
    assert dup.duplicate and dup.base_offset == 10
