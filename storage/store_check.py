"""``Store.check()``: verify (and, asked to, repair) a whole data directory, as diskcache's
``Cache.check()`` does for a cache.  Every partition is examined by ``Log.examine`` (the same
code recovery uses); the store's own files (topic metadata, group files) are parsed.  The
result is a value: ``kcli check`` renders it, tests assert on it."""

from __future__ import annotations

import json
from dataclasses import dataclass

from storage.constants import GROUPS_DIR
from storage.errors import StorageError
from storage.recovery import LogProblem


@dataclass(frozen=True)
class PartitionCheck:
    """One partition: its offsets as found, and what was wrong in its directory."""

    topic: str
    partition: int
    segments: int
    log_start_offset: int | None  # None when the offsets could not be read
    log_end_offset: int | None
    problems: tuple[LogProblem, ...]

    @property
    def ok(self) -> bool:
        return all(p.repaired for p in self.problems)


@dataclass(frozen=True)
class StoreCheck:
    """What ``Store.check`` found: every partition checked, and problems in store files."""

    partitions: tuple[PartitionCheck, ...]
    store_problems: tuple[LogProblem, ...]
    repaired: bool

    @property
    def problems(self) -> list[LogProblem]:
        return list(self.store_problems) + [p for c in self.partitions for p in c.problems]

    @property
    def ok(self) -> bool:
        """True when nothing is wrong (or everything wrong was repaired)."""
        return all(p.repaired for p in self.problems)


def check_store(
    store, topic: str | None, *, repair: bool, truncate_after_corruption: bool
) -> StoreCheck:
    store_problems = [LogProblem(_file_of(message), message) for message in store.damaged_topics()]
    topics = [store.topic(topic)] if topic is not None else store.topics()
    checks = []
    for meta in topics:
        for p in range(meta.partitions):
            log = store.log(meta.name, p)
            problems = tuple(
                log.examine(repair=repair, truncate_after_corruption=truncate_after_corruption)
            )
            try:
                segments = log.segments()
                start = segments[0].base_offset if segments else 0
                end = log.log_end_offset
            except StorageError:
                segments, start, end = [], None, None
            checks.append(PartitionCheck(meta.name, p, len(segments), start, end, problems))
    if topic is None:
        store_problems += _group_file_problems(store.data_dir / GROUPS_DIR)
    return StoreCheck(tuple(checks), tuple(store_problems), repair)


def _file_of(message: str) -> str:
    return message.split(" ", 1)[0]


def _group_file_problems(groups_dir) -> list[LogProblem]:
    """Every JSON file the group store keeps must parse (its contents are its own)."""
    out = []
    for path in sorted(groups_dir.rglob("*.json")) if groups_dir.is_dir() else []:
        try:
            json.loads(path.read_bytes())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            out.append(LogProblem(str(path), f"not valid JSON ({exc})"))
        except OSError as exc:
            out.append(LogProblem(str(path), f"cannot be read ({exc.strerror})"))
    return out
