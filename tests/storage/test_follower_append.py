"""A follower's append (Log.append_as_follower): the leader's batches at the leader's offsets,
including a section the leader's cleaner has already compacted."""

from __future__ import annotations

import pytest

from storage import FakeClock, InvalidRecord, ProducerRecord, Store, encode_batch

NOW = FakeClock().now_ms()  # records of now: no retention or segment.ms roll applies
COMPACT = {"cleanup.policy": "compact", "segment.bytes": "400", "min.cleanable.dirty.ratio": "0.01"}


def _batches(log) -> list[bytes]:
    """Every batch of a log as bytes, in offset order."""
    out = []
    for seg in log.segments():
        data = seg.path.read_bytes()
        pos = 0
        while pos < len(data):
            size = int.from_bytes(data[pos + 8 : pos + 12], "big") + 12
            out.append(data[pos : pos + size])
            pos += size
    return out


def _fill(log) -> None:
    """Batches of two records: a key updated again and again, and a key of its own (so the
    cleaner empties some batches and keeps one record of others)."""
    for i in range(0, 60, 2):
        log.append_records(
            [
                ProducerRecord(f"v{i}".encode() * 4, key=f"k{i % 3}".encode()),
                ProducerRecord(
                    f"v{i + 1}".encode() * 4, key=f"u{i + 1}".encode() if i % 4 else b"k1"
                ),
            ]
        )


def _latest(log) -> dict:
    return {k: (o, v) for o, k, v in _pairs(log)}


def _pairs(log):
    return [
        (r.offset, r.key, r.value)
        for r in log.read_records(log.log_start_offset, max_records=10**6)
    ]


def test_a_follower_copies_a_compacted_leader_log_with_its_offsets_and_gaps(tmp_path):
    leader_store = Store(tmp_path / "leader", clock=FakeClock())
    leader_store.create_topic("users", 1, COMPACT)
    leader = leader_store.log("users", 0)
    _fill(leader)
    leader_store.compact_topic("users")
    batches = _batches(leader)
    offsets = [int.from_bytes(b[:8], "big") for b in batches]
    ends = [o + int.from_bytes(b[23:27], "big") + 1 for o, b in zip(offsets, batches, strict=True)]
    assert any(nxt > end for end, nxt in zip(ends, offsets[1:], strict=False))  # gaps
    assert any(
        int.from_bytes(b[57:61], "big") < e - o
        for b, o, e in zip(batches, offsets, ends, strict=True)
    )  # cleaned batches

    follower_store = Store(tmp_path / "follower", clock=FakeClock())
    follower_store.create_topic("users", 1, COMPACT)
    follower = follower_store.log("users", 0)
    # In two fetches, as a follower would get them.
    half = len(batches) // 2
    first = follower.append_as_follower(batches[:half])
    assert first.base_offset == offsets[0]
    follower.append_as_follower(batches[half:])
    assert follower.log_end_offset == leader.log_end_offset
    # Every record at the offset the leader gave it (its own cleaner may have cleaned more,
    # as each Kafka replica cleans on its own), and the latest value of every key.
    held = _pairs(follower)
    assert all(v == f"v{o}".encode() * 4 for o, _k, v in held)
    assert _latest(follower) == _latest(leader)
    # What it holds survives a restart (recovery accepts the gaps).
    reopened = Store(tmp_path / "follower", clock=FakeClock()).log("users", 0)
    assert _pairs(reopened) == held


def test_a_follower_refuses_batches_below_its_log_end_and_out_of_order(tmp_path):
    store = Store(tmp_path, clock=FakeClock())
    store.create_topic("t", 1)
    log = store.log("t", 0)
    b0 = encode_batch([b"a", b"b"], base_offset=0, timestamp=NOW)
    b2 = encode_batch([b"c"], base_offset=2, timestamp=NOW)
    log.append_as_follower([b0])
    with pytest.raises(InvalidRecord, match="below this log's end offset 2"):
        log.append_as_follower([b0])
    with pytest.raises(InvalidRecord, match="offset order"):
        log.append_as_follower([encode_batch([b"x"], base_offset=5, timestamp=NOW), b2])
    assert log.log_end_offset == 2
    log.append_as_follower([b2])
    assert [r.value for r in log.read_records(0)] == [b"a", b"b", b"c"]


def test_a_cleaned_batch_is_refused_on_a_topic_that_is_not_compacted(tmp_path):
    leader_store = Store(tmp_path / "leader", clock=FakeClock())
    leader_store.create_topic("users", 1, COMPACT)
    leader = leader_store.log("users", 0)
    _fill(leader)
    leader_store.compact_topic("users")
    cleaned = [
        b
        for b in _batches(leader)
        if int.from_bytes(b[57:61], "big") != int.from_bytes(b[23:27], "big") + 1
    ]
    assert cleaned
    store = Store(tmp_path / "plain", clock=FakeClock())
    store.create_topic("users", 1)
    with pytest.raises(InvalidRecord):
        store.log("users", 0).append_as_follower([cleaned[0]])
    assert store.log("users", 0).log_end_offset == 0


def test_idempotent_batches_are_recorded_without_the_leaders_sequence_checks(tmp_path):
    store = Store(tmp_path, clock=FakeClock())
    store.create_topic("t", 1)
    log = store.log("t", 0)
    pid = store.next_producer_id()
    # Sequences 0..1 then 5..5: a gap the leader's cleaner could leave; a leader refuses it.
    b0 = encode_batch(
        [b"a", b"b"],
        base_offset=0,
        timestamp=NOW,
        producer_id=pid,
        producer_epoch=0,
        base_sequence=0,
    )
    b1 = encode_batch(
        [b"c"], base_offset=7, timestamp=NOW, producer_id=pid, producer_epoch=0, base_sequence=5
    )
    log.append_as_follower([b0, b1])
    assert log.log_end_offset == 8
    # The producer's state is the leader's: its next sequence is 6.
    nxt = encode_batch([b"d"], timestamp=NOW, producer_id=pid, producer_epoch=0, base_sequence=6)
    assert log.append(nxt).base_offset == 8
