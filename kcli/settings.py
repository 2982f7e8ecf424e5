"""The global options every command shares: where the store lives (``--data-dir``, else
``KCLI_DATA_DIR``, else the user data dir), or which Kafka cluster to talk to instead
(``--bootstrap-server`` and friends, see kcli.connection)."""

# Start-up: settings are made before every command; the backends (the engine, librdkafka)
# are imported only when a command asks for one.

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kcli.client.data_dir import ENV_DATA_DIR, default_data_dir, resolve_data_dir

__all__ = [
    "ENV_DATA_DIR",
    "Settings",
    "current",
    "default_data_dir",
    "resolve_data_dir",
    "set_current",
]

if TYPE_CHECKING:
    from kcli.connection import Connection


@dataclass
class Settings:
    """Global options, shared by every command through typer's context object."""

    data_dir: Path
    debug: bool = False
    # The cluster chosen with --bootstrap-server / --profile / ..., None for the local store.
    connection: Connection | None = None

    @property
    def remote(self) -> bool:
        return self.connection is not None

    def backend(self):
        """The local store or the cluster, behind one interface (kcli.client.backend)."""
        from kcli.api import open_backend

        return open_backend(self.connection, self.data_dir, debug=self.debug)

    def require_local(self, command: str | None) -> None:
        """KcliError when a cluster was chosen: ``command`` works on the local store only."""
        if self.connection is not None:
            from kcli.connection import local_only_error

            raise local_only_error(command)

    def store(self):
        """Open the local store (imports the engine only when a command needs it).

        A command that gets here while a cluster was chosen is one that only the local
        store can serve: it says so rather than quietly using local data."""
        self.require_local(None)
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
