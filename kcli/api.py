"""Backends: the local store and a Kafka cluster behind one interface (see base.Backend).

``open_backend(connection, data_dir)`` gives the local store when ``connection`` is None
and the cluster otherwise; commands call it through ``kcli.settings.current().backend()``.
"""

from __future__ import annotations

import os

from kcli.backends.base import (
    Backend,
    BackendInfo,
    PartitionDescription,
    TopicDescription,
    TopicInfo,
)

__all__ = [
    "Backend",
    "BackendInfo",
    "PartitionDescription",
    "TopicDescription",
    "TopicInfo",
    "open_backend",
]


def open_backend(connection, data_dir: str | os.PathLike, *, debug: bool = False) -> Backend:
    """The local store in ``data_dir``, or the cluster ``connection`` (a kcli.connection
    Connection) points at; nothing is opened or contacted until first used."""
    if connection is None:
        from kcli.backends.local import LocalBackend

        return LocalBackend(data_dir)
    from kcli.backends.remote import RemoteBackend

    return RemoteBackend(connection, debug=debug)
