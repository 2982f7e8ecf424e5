"""Helpers for the consumer-group tests: member processes, their events, waiting.

The process tests share one harness: group ``billing`` on topic ``orders`` (4 partitions of 5
records each), and a ``spawn(name, **config)`` that starts a member process and stops every
one it started when the test ends.  The store's coordinator tests share another: a store on
a FakeClock with topic ``t`` (4 partitions), its GroupStore, and ``join()`` for group ``g``.
A test module takes these fixtures by importing them (``from .helpers import member_spawner``):
each is registered under its short name (``spawn``, ``data_dir``, ``clock``, ``store``,
``groups``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.waiting import WAIT_S

MEMBER = Path(__file__).with_name("member.py")
KCLI = [sys.executable, "-m", "kcli"]
TOPIC = "orders"
GROUP = "billing"


class Member:
    """A consumer-group member running in its own process (tests/groups/member.py)."""

    def __init__(self, workdir: Path, name: str, **config):
        self.name = name
        # Under the cooperative protocol the callbacks are given increments.
        self.cooperative = config.get("assignor") == "cooperative-sticky"
        self.events_path = workdir / f"{name}.events"
        self.killed_at: float | None = None
        self.proc = subprocess.Popen(
            [sys.executable, str(MEMBER), json.dumps(config), str(self.events_path)],
            stdout=subprocess.DEVNULL,
            stderr=open(workdir / f"{name}.stderr", "wb"),  # noqa: SIM115
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def events(self) -> list[dict]:
        try:
            lines = self.events_path.read_text().splitlines()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in lines if line.endswith("}")]

    def assignment(self) -> list[tuple[str, int]] | None:
        """The partitions the member owns after its last event (None: none since it started,
        or since it revoked or lost them all).

        Eager: those of the last ``assigned`` event.  Cooperative: the sum of the increments.
        """
        if self.cooperative:
            return self.owned_after(self.events())
        current = None
        for ev in self.events():
            if ev["e"] == "assigned":
                current = sorted((t, p) for t, p in ev["parts"])
            elif ev["e"] in ("revoked", "lost"):
                current = None
        return current

    def owned_after(self, events: list[dict]) -> list[tuple[str, int]] | None:
        owned: set | None = None
        for ev in events:
            parts = {(t, p) for t, p in ev.get("parts", ())}
            if ev["e"] == "assigned":
                owned = (owned or set()) | parts
            elif ev["e"] == "revoked":
                owned = (owned or set()) - parts
            elif ev["e"] == "lost":
                owned = None
        return sorted(owned) if owned is not None else None

    def member_id(self) -> str | None:
        ids = [ev["member"] for ev in self.events() if ev["e"] == "assigned"]
        return ids[-1] if ids else None

    def kill(self) -> None:
        self.killed_at = time.time()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def terminate(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=WAIT_S) == 0, self.name

    def stop_quietly(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def describe(data_dir: Path, group: str):
    from storage import Store
    from storage.groups import GroupStore

    return GroupStore(Store(data_dir)).describe_group(group)


def stable_with(data_dir: Path, group: str, members: int):
    """The group's description once it is Stable with exactly ``members`` members, else None."""
    try:
        desc = describe(data_dir, group)
    except Exception:  # noqa: BLE001 - not created yet
        return None
    if desc.state == "Stable" and len(desc.members) == members:
        return desc
    return None


def members_agree(members: list[Member], desc) -> bool:
    """Every member process has applied the assignment the store holds for it."""
    wanted = {m.member_id: sorted(m.assignment) for m in desc.members}
    for member in members:
        mid = member.member_id()
        if mid not in wanted or member.assignment() != wanted[mid]:
            return False
    return True


def ownership_intervals(members: list[Member]) -> dict:
    """{(topic, partition): [(start, end, member name, records processed times)]}."""
    out: dict = {}
    for member in members:
        open_: dict = {}
        for ev in member.events():
            if ev["e"] == "assigned":
                for t, p in ev["parts"]:
                    open_[(t, p)] = [ev["t"], None, member.name, []]
            elif ev["e"] in ("revoked", "lost"):
                for t, p in ev["parts"]:
                    interval = open_.pop((t, p), None)
                    if interval is not None:
                        interval[1] = ev["t"]
                        out.setdefault((t, p), []).append(interval)
            elif ev["e"] == "rec":
                interval = open_.get(tuple(ev["tp"]))
                assert interval is not None, f"{member.name} processed {ev} without owning it"
                interval[3].append(ev["t"])
        end = member.killed_at or time.time()
        for tp, interval in open_.items():
            interval[1] = end
            out.setdefault(tp, []).append(interval)
    return out


def assert_one_reader_at_a_time(members: list[Member]) -> None:
    """No two members processed a partition's records in overlapping stretches of time.

    Each member's stretch on a partition runs from its assignment to the last record it
    processed there; a member that was revoked (or removed while frozen) must be done before
    the next owner starts.
    """
    for tp, intervals in ownership_intervals(members).items():
        busy = sorted(
            (start, max(recs) if recs else start, name) for start, _end, name, recs in intervals
        )
        for (_s1, e1, n1), (s2, _e2, n2) in zip(busy, busy[1:], strict=False):
            assert e1 <= s2, f"{tp}: {n1} still read until {e1} after {n2} started at {s2}"


def run_kcli(data_dir: Path, *args: str, check: bool = True, env_extra=None, **kwargs):
    env = {**os.environ, "KCLI_DATA_DIR": str(data_dir), "NO_COLOR": "1", **(env_extra or {})}
    result = subprocess.run(
        [*KCLI, *args], capture_output=True, text=True, env=env, timeout=WAIT_S, **kwargs
    )
    if check and result.returncode != 0:
        raise AssertionError(f"kcli {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result


@pytest.fixture(name="data_dir")
def orders_data_dir(tmp_path) -> Path:
    """A store with topic ``orders``: 4 partitions of 5 records each."""
    from storage import ProducerRecord, Store

    d = tmp_path / "data"
    store = Store(d)
    store.create_topic(TOPIC, 4)
    for p in range(4):
        store.log(TOPIC, p).append_records([ProducerRecord(f"{p}-{i}".encode()) for i in range(5)])
    store.close()
    return d


@pytest.fixture(name="spawn")
def member_spawner(tmp_path, data_dir):
    """``spawn(name, **config)``: a member of ``billing`` on ``orders`` in its own process,
    its client id its name; every member started is stopped when the test ends."""
    started: list[Member] = []

    def make(name: str, **config) -> Member:
        config = {
            "data_dir": str(data_dir),
            "group": GROUP,
            "topics": [TOPIC],
            "client_id": name,
            **config,
        }
        m = Member(tmp_path, name, **config)
        started.append(m)
        return m

    yield make
    for m in started:
        m.stop_quietly()


# -- the store's coordinator, with time moved by hand --------------------------------------------

# The session timeout the coordinator tests join with.
SESSION = 3000


@pytest.fixture(name="clock")
def fake_clock():
    from storage import FakeClock

    return FakeClock()


@pytest.fixture(name="store")
def store_on_fake_clock(tmp_path, clock):
    """A store on ``clock`` with topic ``t``: 4 partitions."""
    from storage import Store

    s = Store(tmp_path / "data", clock=clock)
    s.create_topic("t", 4)
    yield s
    s.close()


@pytest.fixture(name="groups")
def group_store(store):
    from storage.groups import GroupStore

    return GroupStore(store)


def join(groups, client, member_id="", topics=("t",), **kw):
    """``client`` joins group ``g`` (a new member unless ``member_id`` is given)."""
    return groups.join_group(
        "g",
        topics=list(topics),
        client_id=client,
        member_id=member_id,
        session_timeout_ms=SESSION,
        **kw,
    )
