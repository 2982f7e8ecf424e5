"""The ``cluster`` profile in kcli's config file, so that ``kcli --profile cluster ...`` talks
to the running cluster.  Only the ``[profile.cluster]`` section is rewritten; the rest of the
file stays as the user wrote it."""

from __future__ import annotations

from pathlib import Path

from kcli.connection import config_file
from storage.fileio import atomic_write

PROFILE = "cluster"


def write_cluster_profile(bootstrap_servers: str) -> Path:
    path = config_file()
    section = f'[profile.{PROFILE}]\nbootstrap_server = "{bootstrap_servers}"\n'
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    skipping = False
    replaced = False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("["):
            if stripped == f"[profile.{PROFILE}]" or stripped.startswith(f"[profile.{PROFILE}."):
                skipping = True
                if not replaced:
                    out.append(section)
                    replaced = True
                continue
            skipping = False
        if not skipping:
            out.append(line)
    if not replaced:
        if out and not out[-1].endswith("\n"):
            out.append("\n")
        if out:
            out.append("\n")
        out.append(section)
    new = "".join(out)
    if new != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, new.encode())
    return path
