"""What a learner types in a new terminal, and which store the lesson was opened on.

Some lessons run a consumer (or ``kcli serve``) in a second terminal.  A new terminal starts
without the virtual environment kcli runs in and without a ``KCLI_DATA_DIR`` exported in the
first one, so ``kcli`` is "command not found" or, worse, silently uses another store.
``new_terminal_commands`` says exactly what to type, derived from the running kcli (never a
path written into the lessons); ``remember_store`` notes which store a lesson was opened on,
outside any store (in the user's state directory), so that ``kcli learn check`` run against
another store can say so.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from kcli.settings import ENV_DATA_DIR

STATE_FILE = "learn-store.json"


def activate_command() -> str | None:
    """The command that puts this kcli on a new shell's PATH, or None when it already is.

    A virtual environment is activated with its own ``activate`` script; a kcli installed
    elsewhere (pipx, the system) is found on PATH unless its folder is missing from it.
    """
    if sys.prefix != sys.base_prefix:
        if os.name == "nt":
            return str(Path(sys.prefix) / "Scripts" / "activate")
        return f"source {shlex.quote(str(Path(sys.prefix) / 'bin' / 'activate'))}"
    bindir = Path(sys.argv[0]).resolve().parent if sys.argv and sys.argv[0] else None
    if shutil.which("kcli") is None and bindir is not None:
        return f'export PATH={shlex.quote(str(bindir))}:"$PATH"'
    return None


def new_terminal_commands(data_dir: Path) -> list[str]:
    """What to type first in a new terminal so that kcli runs, on the same store."""
    commands = []
    activate = activate_command()
    if activate:
        commands.append(activate)
    if os.name == "nt":
        commands.append(f"set {ENV_DATA_DIR}={Path(data_dir).resolve()}")
    else:
        commands.append(f"export {ENV_DATA_DIR}={shell_path(Path(data_dir).resolve())}")
    return commands


def shell_path(path: Path) -> str:
    """``path`` for a POSIX shell, as short as it safely gets: ``~/...`` under the home
    directory (the shell expands it), quoted where it needs quotes."""
    try:
        inside = path.relative_to(Path.home())
    except ValueError:
        return shlex.quote(str(path))
    return "~" if str(inside) == "." else "~/" + shlex.quote(str(inside))


# -- which store the lesson was opened on -------------------------------------------------------


@dataclass(frozen=True)
class OpenedOn:
    """The store a lesson was last opened on (``kcli learn show`` / ``next``)."""

    data_dir: Path
    lesson: str  # slug


def _state_path() -> Path:
    from platformdirs import user_state_dir

    return Path(user_state_dir("kcli", appauthor=False)) / STATE_FILE


def remember_store(data_dir: Path, slug: str) -> None:
    """Note that lesson ``slug`` was opened on ``data_dir``; a failure to write is harmless."""
    path = _state_path()
    body = {"data_dir": str(Path(data_dir).resolve()), "lesson": slug}
    try:
        if json.loads(path.read_text(encoding="utf-8")) == body:
            return
    except (OSError, ValueError):
        pass
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        from storage.fileio import atomic_write

        atomic_write(path, (json.dumps(body) + "\n").encode())
    except OSError:
        return  # only a convenience: the lesson works without it


def opened_on() -> OpenedOn | None:
    """Where the last lesson was opened, if anywhere (and the record is readable)."""
    try:
        raw = json.loads(_state_path().read_text(encoding="utf-8"))
        return OpenedOn(Path(raw["data_dir"]), str(raw["lesson"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def other_store(data_dir: Path) -> OpenedOn | None:
    """The store the last lesson was opened on, when it is not ``data_dir``; else None."""
    opened = opened_on()
    if opened is None or opened.data_dir == Path(data_dir).resolve():
        return None
    return opened
