"""``meta.properties``, the file that makes a directory a kcli store: its format version and
cluster id, as Kafka's ``meta.properties`` holds a log directory's.  A store marked with a
version this kcli does not know is refused rather than misread."""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path

from storage.constants import FORMAT_VERSION, META_FILE
from storage.errors import DataDirError
from storage.fileio import atomic_write


def new_cluster_id() -> str:
    """A fresh cluster id, as Kafka's ``kafka-storage random-uuid`` prints one (22 characters
    of URL-safe base64)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def write_new_meta_properties(data_dir: Path, cluster_id: str | None = None) -> None:
    """A new store's file: this format version and ``cluster_id`` (a fresh one by default;
    the brokers of one kcli cluster share theirs, as ``kafka-storage format -t ID`` makes
    Kafka's)."""
    cluster_id = cluster_id or new_cluster_id()
    atomic_write(
        data_dir / META_FILE,
        f"# kcli data directory\nversion={FORMAT_VERSION}\ncluster.id={cluster_id}\n".encode(),
    )


def read_meta_properties(data_dir: Path) -> dict[str, str]:
    """``meta.properties`` parsed, after checking this kcli can read the store's format."""
    path = data_dir / META_FILE
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise DataDirError(
            f"{path} is missing; a kcli data directory has one (version=1, cluster.id=...)"
        ) from None
    except UnicodeDecodeError:
        raise DataDirError(
            f"{path} is not a text file; it should hold lines like 'version=1' and "
            f"'cluster.id=...' (restore it, or move the data directory aside)"
        ) from None
    props = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            props[key.strip()] = value.strip()
    version = props.get("version", "")
    if version != str(FORMAT_VERSION):
        if version.isdigit() and int(version) > FORMAT_VERSION:
            raise DataDirError(
                f"{path} says format version {version}, but this kcli reads version "
                f"{FORMAT_VERSION}: the store was written by a newer kcli; upgrade kcli "
                f"to use it"
            )
        raise DataDirError(
            f"{path} has version={version or '(none)'}; this kcli reads version "
            f"{FORMAT_VERSION} (restore the file, or move the data directory aside)"
        )
    return props


def read_only_reason(path: Path) -> str:
    """Why ``path`` cannot be written: a read-only mount, or permissions."""
    try:
        if os.statvfs(path).f_flag & os.ST_RDONLY:
            return "read-only file system"
    except OSError:
        pass
    return "permission denied"
