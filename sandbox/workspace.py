"""Per-session workspaces on the host: where they live, who owns them, what a run changed."""

from __future__ import annotations

import contextlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

SESSION_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# A snapshot walks at most this many entries: a tool creating millions of files cannot stall the worker.
MAX_SNAPSHOT_ENTRIES = 20_000


class WorkspaceError(ValueError):
    pass


@dataclass(frozen=True)
class Entry:
    size: int
    mtime_ns: int
    ino: int
    mode: int


Snapshot = dict[str, Entry]


def snapshot(root: Path) -> Snapshot:
    """Every entry under root, by relative path, never following symlinks (a tool may plant hostile ones)."""
    found: Snapshot = {}
    stack = [root]
    while stack and len(found) < MAX_SNAPSHOT_ENTRIES:
        current = stack.pop()
        try:
            with os.scandir(current) as it:
                for item in it:
                    try:
                        st = item.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    rel = os.path.relpath(item.path, root)
                    found[rel] = Entry(st.st_size, st.st_mtime_ns, st.st_ino, st.st_mode)
                    if stat.S_ISDIR(st.st_mode):
                        stack.append(Path(item.path))
                    if len(found) >= MAX_SNAPSHOT_ENTRIES:
                        break
        except OSError:
            continue
    return found


def over_quota(snap: Snapshot, quota_bytes: int, max_entries: int) -> bool:
    # A snapshot stops counting at MAX_SNAPSHOT_ENTRIES, so reaching the cap means too many files.
    return total_bytes(snap) > quota_bytes or len(snap) > min(max_entries, MAX_SNAPSHOT_ENTRIES - 1)


def total_bytes(snap: Snapshot) -> int:
    return sum(e.size for e in snap.values() if stat.S_ISREG(e.mode))


def changed(before: Snapshot, after: Snapshot) -> list[str]:
    """Files created, modified or deleted (directories only when created or removed)."""
    out: list[str] = []
    for path, entry in after.items():
        old = before.get(path)
        if old is None:
            out.append(path)
        elif not stat.S_ISDIR(entry.mode) and (old.size, old.mtime_ns, old.ino) != (
            entry.size,
            entry.mtime_ns,
            entry.ino,
        ):
            out.append(path)
    out.extend(p for p in before if p not in after)
    return sorted(out)


def remove_created(root: Path, before: Snapshot) -> None:
    """Undo what a run added: every entry not in `before` goes (the whole tree is walked, not only
    what a capped snapshot saw); pre-existing files are left as they are.

    Each removal walks down from an open directory fd with O_NOFOLLOW, so a directory swapped for a
    symlink (by a process that outlived its run without isolation) cannot turn it onto host files.
    """
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        _remove_new(root_fd, "", before)
    finally:
        os.close(root_fd)


def _remove_new(dir_fd: int, prefix: str, before: Snapshot) -> None:
    try:
        names = os.listdir(dir_fd)
    except OSError:
        return
    for name in names:
        rel = f"{prefix}{name}"
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            try:
                child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
            except OSError:
                continue
            try:
                _remove_new(child, rel + os.sep, before)
            finally:
                os.close(child)
            if rel not in before:
                with contextlib.suppress(OSError):
                    os.rmdir(name, dir_fd=dir_fd)
        elif rel not in before:
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=dir_fd)


def traversable_by_others(path: Path) -> bool:
    """True when every directory from / down to path can be entered by an unrelated uid."""
    current = path.resolve()
    for part in [current, *current.parents]:
        try:
            if not part.stat().st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return True


class Workspaces:
    """One writable directory per session under root, owned by the sandbox uid."""

    def __init__(self, root: Path, owner: tuple[int, int] | None) -> None:
        self.root = root
        self.owner = owner

    def ensure_root(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        # Others may only traverse: the sandbox uid reaches its own workspace, never lists the others.
        self.root.chmod(0o711)

    def path(self, session_id: str) -> Path:
        if not SESSION_RE.match(session_id):
            raise WorkspaceError(f"invalid session id {session_id!r}")
        return self.root / session_id

    def ensure(self, session_id: str) -> Path:
        path = self.path(session_id)
        if not path.is_dir():
            self.ensure_root()
            path.mkdir(mode=0o700, exist_ok=True)
            if self.owner is not None:
                os.chown(path, *self.owner)
        return path
