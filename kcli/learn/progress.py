"""A learner's progress, kept in the data directory next to the topics it is about.

``<data-dir>/learn/progress.json`` holds the lesson the learner is on and when each lesson's
check passed.  It is written as the store writes its own metadata (temp file, fsync, rename),
so an interrupted ``kcli learn check`` never leaves it half-written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from kcli.errors import KcliError

PROGRESS_DIR = "learn"
PROGRESS_FILE = "progress.json"


@dataclass
class Progress:
    """Which lesson the learner is on and which lessons passed their check (and when)."""

    current: int | None = None
    passed: dict[int, str] = field(default_factory=dict)

    def is_passed(self, number: int) -> bool:
        return number in self.passed

    def mark_passed(self, number: int) -> None:
        self.passed.setdefault(number, datetime.now(UTC).isoformat(timespec="seconds"))

    def forget(self, number: int | None = None) -> None:
        if number is None:
            self.passed.clear()
            self.current = None
        else:
            self.passed.pop(number, None)


def progress_path(data_dir: Path) -> Path:
    return Path(data_dir) / PROGRESS_DIR / PROGRESS_FILE


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
        current = raw.get("current")
        passed = {int(k): str(v) for k, v in (raw.get("passed") or {}).items()}
    except (AttributeError, TypeError, ValueError):
        raise KcliError(
            f"{path} is not a kcli progress file; delete it or run 'kcli learn reset'"
        ) from None
    return Progress(current=int(current) if current is not None else None, passed=passed)


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
        "current": progress.current,
        "passed": {str(k): v for k, v in sorted(progress.passed.items())},
    }
    from storage.fileio import atomic_write

    atomic_write(path, (json.dumps(body, indent=2) + "\n").encode())
