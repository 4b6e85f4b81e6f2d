"""Free space on the filesystem holding the workspaces, and the floor under which no tool may write."""

from __future__ import annotations

import os
from pathlib import Path

from .limits import GIB

DEFAULT_FLOOR_BYTES = 1 * GIB
DEFAULT_FLOOR_FRACTION = 0.05


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged writer may still use there (f_bavail: root's reserve does not count)."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def floor_bytes(path: Path, configured: int | None) -> int:
    """The configured floor, else 1 GiB or 5 % of the filesystem, whichever is smaller."""
    if configured is not None:
        return configured
    st = os.statvfs(path)
    return min(DEFAULT_FLOOR_BYTES, int(st.f_blocks * st.f_frsize * DEFAULT_FLOOR_FRACTION))


def below_floor_error(path: Path, free: int, floor: int) -> str:
    return (
        f"refusing to run: the workspace filesystem at {path} has {free} bytes free, "
        f"below the floor of {floor} bytes (PAGI_SANDBOX_MIN_FREE_BYTES); free space there first"
    )


def stopped_below_floor_error(path: Path, free: int, floor: int) -> str:
    return (
        f"the workspace filesystem at {path} fell to {free} bytes free, below the floor "
        f"of {floor} bytes (PAGI_SANDBOX_MIN_FREE_BYTES); the run was stopped"
    )
