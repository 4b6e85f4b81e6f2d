"""Where `pagi up` puts things on disk, and the one layout it warns about: tool workspaces on the
filesystem of the bus store and the memory store.

The sandbox refuses runs below a free-space floor and stops a run that goes under it, but it
checks every quarter of a second: a tool writing at memory speed can fill a shared disk between two
checks, and then JetStream cannot store a message and the memory store cannot grow. Only a
filesystem of their own (`PAGI_WORKSPACES_DIR`) keeps the tools' bytes off the stack's disk.
"""

from __future__ import annotations

import os
from pathlib import Path


def _device(path: Path) -> int:
    """The filesystem `path` is (or would be, once created) on."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return os.stat(candidate).st_dev
    return os.stat("/").st_dev


def shared_disk_warning(data_dir: Path, workspaces_dir: Path | None) -> str | None:
    """A warning when the workspaces (default: under `data_dir`) share `data_dir`'s filesystem."""
    workspaces = workspaces_dir or data_dir
    if _device(workspaces) != _device(data_dir):
        return None
    where = f"the tool workspaces ({workspaces})" if workspaces_dir else "the tool workspaces (in the data dir)"
    return (
        f"{where} share the filesystem of the bus and memory stores ({data_dir}): a tool that fills it "
        "can stop the whole stack; set PAGI_WORKSPACES_DIR to a directory on a filesystem of its own"
    )
