"""Missing or emptied segments are found, never skipped, and ``Store.check`` / ``kcli check``
report (and, told to, repair) every kind of damage: the same code recovery uses."""

from __future__ import annotations

import json

import pytest

from storage import CorruptRecord, Store
from storage.errors import LogGap
from tests.conftest import run_kcli

CONFIG = {"segment.bytes": "700", "retention.ms": "-1"}


@pytest.fixture
def data(tmp_path):
    store = Store(tmp_path / "data")
    store.create_topic("t", 1, CONFIG)
    store.create_topic("other", 1)
    log = store.log("t", 0)
    for i in range(0, 200, 10):
        log.append_records([b"value-%03d" % j for j in range(i, i + 10)])
    store.log("other", 0).append_records([b"fine"])
    segments = log.segments()
    assert len(segments) >= 4
    store.close()
    return tmp_path / "data", segments


def _all(log):
    out, offset = [], log.log_start_offset
    while records := log.read_records(offset):
        out += records
        offset = records[-1].offset + 1
    return out


@pytest.mark.parametrize(
    ("which", "how", "fragment"),
    [
        (1, "delete", "are missing"),
        (1, "empty", "is empty"),
        (0, "delete", "log-start-offset-checkpoint"),
        (-1, "delete", "the active segment"),
    ],
    ids=["closed-deleted", "closed-emptied", "first-deleted", "active-deleted"],
)
def test_a_missing_segment_is_an_error_never_silent(data, which, how, fragment):
    data_dir, segments = data
    victim = segments[which]
    if how == "delete":
        victim.path.unlink()
    else:
        victim.path.write_bytes(b"")
    store = Store(data_dir)
    log = store.log("t", 0)
    for attempt in (lambda: log.read_records(0), lambda: log.append_records([b"new"])):
        with pytest.raises(LogGap) as err:
            attempt()
        assert fragment in str(err.value) and "kcli check" in str(err.value)
    # Other topics stay usable; the consumer says what is wrong in one line.
    assert [r.value for r in store.log("other", 0).read_records(0)] == [b"fine"]
    out = run_kcli(data_dir, "consume", "t", "--from-beginning")
    assert out.returncode == 1 and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and fragment in out.stderr
    # kcli check reports it and exits 1; --repair alone deletes nothing and does not hide it.
    report = run_kcli(data_dir, "check", "-o", "json")
    assert report.returncode == 1, report.stderr
    rows = [json.loads(line) for line in report.stdout.splitlines()]
    t = next(r for r in rows if r.get("topic") == "t")
    assert not t["ok"] and any(fragment in p["problem"] for p in t["problems"])
    assert run_kcli(data_dir, "check", "t", "--repair").returncode == 1
    # Told to accept the loss, it makes the log contiguous and says what it did.
    fixed = run_kcli(
        data_dir, "check", "t", "--repair", "--truncate-after-corruption", "-o", "json"
    )
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert all(p["repaired"] for p in json.loads(fixed.stdout.splitlines()[0])["problems"])
    store = Store(data_dir)
    log = store.log("t", 0)
    records = _all(log)
    offsets = [r.offset for r in records]
    assert offsets == list(range(log.log_start_offset, log.log_end_offset))
    before_end = log.log_end_offset
    assert log.append_records([b"after"]).base_offset == before_end
    assert run_kcli(data_dir, "check").returncode == 0


def test_check_finds_a_corrupt_batch_and_truncates_only_when_told(data):
    data_dir, segments = data
    path = segments[1].path
    raw = bytearray(path.read_bytes())
    raw[80] ^= 0xFF  # inside the first batch's records: its CRC no longer matches
    path.write_bytes(bytes(raw))
    report = Store(data_dir).check()
    assert not report.ok
    assert any("CRC-32C" in p.problem and p.file == path.name for p in report.problems)
    assert Store(data_dir).check(repair=True).ok is False
    assert path.read_bytes() == bytes(raw)  # --repair alone never deletes data mid-log
    fixed = Store(data_dir).check(repair=True, truncate_after_corruption=True)
    assert fixed.ok, fixed.problems
    assert any("removed" in p.repaired for p in fixed.problems)
    log = Store(data_dir).log("t", 0)
    assert log.log_end_offset == segments[1].base_offset
    assert len(_all(log)) == segments[1].base_offset


def test_check_repairs_a_torn_tail_and_a_damaged_index(data):
    data_dir, segments = data
    active = segments[-1].path
    size = active.stat().st_size
    with open(active, "ab") as f:
        f.write(b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00")  # a torn header
    index = segments[1].path.with_suffix(".timeindex")
    index.write_bytes(index.read_bytes()[:-12] + b"\x00" * 11)
    report = Store(data_dir).check()
    assert {p.file for p in report.problems} == {active.name, index.name}
    out = run_kcli(data_dir, "check", "--repair")
    assert out.returncode == 0, out.stdout + out.stderr
    assert active.stat().st_size == size
    assert Store(data_dir).check().ok


def test_a_damaged_snapshot_and_group_file_are_reported(data, tmp_path):
    data_dir, _segments = data
    (data_dir / "t-0" / "00000000000000000000.snapshot").write_bytes(b"junk")
    groups = data_dir / "groups"
    groups.mkdir(exist_ok=True)
    (groups / "g.json").write_bytes(b"{not json")
    report = Store(data_dir).check()
    files = {p.file for p in report.problems}
    assert "00000000000000000000.snapshot" in files
    assert any(f.endswith("g.json") for f in files)
    with pytest.raises(CorruptRecord):
        raise CorruptRecord("a LogGap is a CorruptRecord")  # the wire maps both the same way
