"""Whether this host offers the cgroup v2 pids and memory controllers to this worker (detection only).

The sandbox does not place runs in cgroups yet: a session's processes are bounded by its own host uid
(RLIMIT_NPROC). This says, for /health and the logs, whether a delegated cgroup v2 subtree exists
that a later version could use for per-session pids and memory limits.
"""

from __future__ import annotations

import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _own_cgroup() -> str | None:
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                return line[3:]
    except OSError:
        return None
    return None


def cgroup_v2_status(root: Path = CGROUP_ROOT) -> str:
    """One line: what cgroup v2 offers here, and why it is not (yet) a bound in force."""
    if not (root / "cgroup.controllers").is_file():
        v1 = (root / "pids").is_dir()
        return "no cgroup v2 mount" + (" (cgroup v1 host: not used)" if v1 else "")
    own = _own_cgroup()
    if own is None:
        return "cgroup v2 mounted, this process's cgroup unknown"
    directory = root / own.lstrip("/")
    try:
        controllers = set((directory / "cgroup.controllers").read_text().split())
    except OSError:
        return f"cgroup v2 mounted, {directory} unreadable"
    missing = {"pids", "memory"} - controllers
    if missing:
        return f"cgroup v2 at {directory} without the {', '.join(sorted(missing))} controller(s)"
    if not os.access(directory, os.W_OK) or not os.access(directory / "cgroup.subtree_control", os.W_OK):
        return f"cgroup v2 pids and memory at {directory}, not delegated to this worker (not writable)"
    return f"cgroup v2 pids and memory delegated at {directory} (not used yet: bounds are per session uid)"
