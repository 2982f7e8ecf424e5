"""A learner's progress, kept in the data directory next to the topics it is about.

``<data-dir>/learn/progress.json`` holds the lesson the learner is on and when each lesson's
check passed.  Lessons are named by their slug (``offsets`` for ``07-offsets.md``), never by
their number: a lesson inserted before others renumbers them, and progress keyed by number
would then credit the wrong lessons.  Files written before that (``"passed": {"7": ...}``) are
read through ``LEGACY_NUMBERS``, the numbering they were written under.

The file is written as the store writes its own metadata (temp file, fsync, rename), so an
interrupted ``kcli learn check`` never leaves it half-written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from kcli.errors import KcliError

PROGRESS_DIR = "learn"
PROGRESS_FILE = "progress.json"
FORMAT_VERSION = 2

# The lessons as numbered when progress files keyed progress by number (format 1).  Fixed
# forever: such a file was written under exactly this numbering, whatever lessons exist now.
LEGACY_NUMBERS = {
    1: "what-is-kafka",
    2: "why-not-a-socket",
    3: "fast-producer-slow-consumer",
    4: "retention",
    5: "pub-sub",
    6: "topics-and-partitions",
    7: "offsets",
    8: "keys-and-partitioning",
    9: "brokers-and-clusters",
    10: "consumer-groups",
    11: "scaling-a-group",
    12: "queue-vs-log",
    13: "source-and-sink",
    14: "iot-fleet",
    15: "real-kafka",
}


@dataclass
class Progress:
    """Which lesson the learner is on and which lessons passed their check (and when).

    Both name lessons by slug."""

    current: str | None = None
    passed: dict[str, str] = field(default_factory=dict)

    def is_passed(self, slug: str) -> bool:
        return slug in self.passed

    def mark_passed(self, slug: str) -> None:
        self.passed.setdefault(slug, datetime.now(UTC).isoformat(timespec="seconds"))

    def forget(self, slug: str | None = None) -> None:
        if slug is None:
            self.passed.clear()
            self.current = None
        else:
            self.passed.pop(slug, None)


def progress_path(data_dir: Path) -> Path:
    return Path(data_dir) / PROGRESS_DIR / PROGRESS_FILE


def _slug(raw: object, version: int) -> str:
    """A lesson name from the file: a slug, or (format 1) a lesson number."""
    if version < FORMAT_VERSION:
        number = int(str(raw))
        if number not in LEGACY_NUMBERS:
            raise ValueError(number)
        return LEGACY_NUMBERS[number]
    if not isinstance(raw, str) or not raw:
        raise ValueError(raw)
    return raw


def load(data_dir: Path) -> Progress:
    """The saved progress, or a fresh one when the learner has not started."""
    path = progress_path(data_dir)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Progress()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise KcliError(
            f"{path} is not valid JSON ({exc}); delete it or run 'kcli learn reset' to start over"
        ) from None
    try:
        version = int(raw.get("version", 1))
        current = raw.get("current")
        passed = {_slug(k, version): str(v) for k, v in (raw.get("passed") or {}).items()}
        current = _slug(current, version) if current is not None else None
    except (AttributeError, TypeError, ValueError):
        raise KcliError(
            f"{path} is not a kcli progress file; delete it or run 'kcli learn reset'"
        ) from None
    return Progress(current=current, passed=passed)


def save(data_dir: Path, progress: Progress) -> None:
    """Write the progress atomically: temp file, fsync, rename, fsync the directory."""
    path = progress_path(data_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise KcliError(
            f"cannot save progress in {path.parent} ({exc.strerror}); "
            f"choose a writable data directory with --data-dir or KCLI_DATA_DIR"
        ) from None
    body = {
        "version": FORMAT_VERSION,
        "current": progress.current,
        "passed": dict(sorted(progress.passed.items())),
    }
    from storage.fileio import atomic_write

    atomic_write(path, (json.dumps(body, indent=2) + "\n").encode())
