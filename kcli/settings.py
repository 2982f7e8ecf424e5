"""Where the store lives: ``--data-dir``, else ``KCLI_DATA_DIR``, else the user data dir."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_DATA_DIR = "KCLI_DATA_DIR"


def default_data_dir() -> Path:
    """The platform's user data directory for kcli (e.g. ~/.local/share/kcli on Linux)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("kcli", appauthor=False))


def resolve_data_dir(option: str | os.PathLike | None = None) -> Path:
    if option:
        return Path(option).expanduser()
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env).expanduser()
    return default_data_dir()


@dataclass
class Settings:
    """Global options, shared by every command through typer's context object."""

    data_dir: Path
    debug: bool = False

    def store(self):
        """Open the store (imports the engine only when a command needs it)."""
        from storage import Store

        return Store(self.data_dir)


_current: Settings | None = None


def current() -> Settings:
    """The settings of the running command (defaults when called outside the CLI)."""
    global _current
    if _current is None:
        _current = Settings(resolve_data_dir())
    return _current


def set_current(settings: Settings) -> None:
    global _current
    _current = settings
