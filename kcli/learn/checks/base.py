"""What every check is made of: findings, the context it reads, and the registry of kinds.

A check is a small dict in a lesson's front matter, e.g. ``{kind: records, topic: signups,
min: 3}``.  Its ``kind`` picks a function registered with ``@check``; the function reads the
store (or a cluster's metadata log and broker logs) and returns findings, each either met or
saying exactly what is missing and how to get there.  Nothing here looks at what the learner
typed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Finding:
    """One requirement of a check: met or not, in words a learner understands."""

    ok: bool
    message: str


@dataclass(frozen=True)
class CheckReport:
    """All findings of a lesson's checks; passed when every one is met."""

    findings: tuple[Finding, ...]

    @property
    def passed(self) -> bool:
        return all(f.ok for f in self.findings)

    @property
    def missing(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if not f.ok)


class Missing(Exception):
    """A requirement that cannot even be looked at (no such topic); stops that check."""


class Context:
    """What checks read: the store and its consumer-group state, opened lazily."""

    def __init__(self, data_dir: Path, lesson_number: int | None = None):
        from kcli.local.backend import LocalBackend

        self.data_dir = Path(data_dir)
        self.lesson_number = lesson_number
        self._local = LocalBackend(self.data_dir)

    def start_again(self) -> str:
        """The advice for a state that cannot be put right in place (records never move)."""
        lesson = f" {self.lesson_number}" if self.lesson_number is not None else ""
        return f"start the exercise again with: kcli learn reset{lesson}"

    @property
    def store(self):
        return self._local.store

    @property
    def groups(self):
        return self._local.groups()

    def close(self) -> None:
        self._local.close()

    def topic(self, name: str):
        if not self.store.topic_exists(name):
            raise Missing(
                f"topic '{name}' does not exist yet (create it with: kcli topic create {name})"
            )
        return self.store.topic(name)

    def records(self, topic: str, partition: int) -> Iterator:
        log = self.store.log(topic, partition)
        offset = log.log_start_offset
        while True:
            chunk = log.read_records(offset, max_records=5000)
            if not chunk:
                return
            yield from chunk
            offset = chunk[-1].offset + 1

    def describe_group(self, group: str):
        from storage.groups import GroupNotFound

        try:
            return self.groups.describe_group(group)
        except GroupNotFound:
            raise Missing(
                f"consumer group '{group}' does not exist yet (it appears when a consumer runs "
                f"with: kcli consume TOPIC --group {group})"
            ) from None

    def lag(self, group: str, topic: str) -> dict[int, int | None]:
        """Lag per partition of ``topic`` for ``group`` (None: nothing committed)."""
        meta = self.topic(topic)
        committed = self.groups.fetch_offsets(group, [(topic, p) for p in range(meta.partitions)])
        out: dict[int, int | None] = {}
        for p in range(meta.partitions):
            end = self.store.log(topic, p).log_end_offset
            c = committed.get((topic, p))
            out[p] = None if c is None or c.offset < 0 else max(end - c.offset, 0)
        return out


CheckFn = Callable[[Context, dict], list[Finding]]
CHECKS: dict[str, CheckFn] = {}


def check(kind: str) -> Callable[[CheckFn], CheckFn]:
    """Register the decorated function as the check of kind ``kind``."""

    def register(fn: CheckFn) -> CheckFn:
        CHECKS[kind] = fn
        return fn

    return register


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def text_of(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", errors="replace")
