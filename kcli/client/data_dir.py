"""Where the local store lives: ``data.dir`` / ``--data-dir``, else ``KCLI_DATA_DIR``, else the
user data directory.  The CLI resolves it before every command, so platformdirs (about 30 ms
to import) is imported only when the default is really needed."""

from __future__ import annotations

import os
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
