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


class Snapshot(dict[str, Entry]):
    """Entries by relative path; `hidden` counts directories the walk could not read (never under quota)."""

    hidden: int = 0


def _unhide(path: Path) -> bool:
    """Make a directory this process owns readable again (a tool's `chmod 000` cannot hide its size)."""
    try:
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
            return False
        os.chmod(path, stat.S_IMODE(st.st_mode) | stat.S_IRWXU, follow_symlinks=False)
        return True
    except (OSError, NotImplementedError):
        return False


def snapshot(root: Path) -> Snapshot:
    """Every entry under root, by relative path, never following symlinks (a tool may plant hostile ones)."""
    found = Snapshot()
    stack = [root]
    while stack and len(found) < MAX_SNAPSHOT_ENTRIES:
        current = stack.pop()
        try:
            try:
                it = os.scandir(current)
            except PermissionError:
                if not _unhide(current):
                    raise
                it = os.scandir(current)
            with it:
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
        except PermissionError:
            found.hidden += 1
        except OSError:  # removed while being walked
            continue
    return found


def over_quota(snap: Snapshot, quota_bytes: int, max_entries: int) -> bool:
    # A snapshot stops counting at MAX_SNAPSHOT_ENTRIES, so reaching the cap means too many files; a
    # directory it could not read might hold anything, so it counts as over.
    return snap.hidden > 0 or total_bytes(snap) > quota_bytes or len(snap) > min(max_entries, MAX_SNAPSHOT_ENTRIES - 1)


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


def _touched(before: Snapshot, after: Snapshot) -> list[str]:
    """Files (not directories) the run created or changed, newest first."""
    out = [
        path
        for path, entry in after.items()
        if not stat.S_ISDIR(entry.mode)
        and (
            (old := before.get(path)) is None
            or (old.size, old.mtime_ns, old.ino) != (entry.size, entry.mtime_ns, entry.ino)
        )
    ]
    return sorted(out, key=lambda p: after[p].mtime_ns, reverse=True)


def remove_over_quota(root: Path, before: Snapshot, after: Snapshot, quota_bytes: int, max_entries: int) -> list[str]:
    """Bring a workspace a run took over quota back under it: remove what the run created or changed,
    newest first, until it fits, then the directories it created that are left empty. Files that were
    there before and that the run did not touch stay. Returns what was removed."""
    if len(before) >= MAX_SNAPSHOT_ENTRIES or len(after) >= MAX_SNAPSHOT_ENTRIES:
        # Too many entries to know them all: everything the capped `before` did not see goes.
        return remove_created(root, before)
    limit = min(max_entries, MAX_SNAPSHOT_ENTRIES - 1)
    total, count = total_bytes(after), len(after)
    removed: list[str] = []
    for rel in _touched(before, after):
        if total <= quota_bytes and count <= limit:
            break
        if _unlink(root, rel):
            entry = after[rel]
            total -= entry.size if stat.S_ISREG(entry.mode) else 0
            count -= 1
            removed.append(rel)
    if removed:
        created_dirs = [p for p, e in after.items() if stat.S_ISDIR(e.mode) and p not in before]
        for rel in sorted(created_dirs, key=lambda p: p.count(os.sep), reverse=True):
            if _unlink(root, rel, directory=True):
                removed.append(rel)
    return removed


def _unlink(root: Path, rel: str, *, directory: bool = False) -> bool:
    """Remove root/rel, walking down from open directory fds with O_NOFOLLOW (never through a symlink)."""
    *parents, name = rel.split(os.sep)
    fds = [os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)]
    try:
        for part in parents:
            fds.append(os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fds[-1]))
        if directory:
            os.rmdir(name, dir_fd=fds[-1])
        else:
            os.unlink(name, dir_fd=fds[-1])
        return True
    except OSError:
        return False
    finally:
        for fd in fds:
            os.close(fd)


def remove_created(root: Path, before: Snapshot) -> list[str]:
    """Undo what a run added: every entry not in `before` goes (the whole tree is walked, not only
    what a capped snapshot saw); pre-existing files are left as they are.

    Each removal walks down from an open directory fd with O_NOFOLLOW, so a directory swapped for a
    symlink (by a process that outlived its run without isolation) cannot turn it onto host files.
    """
    removed: list[str] = []
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        _remove_new(root_fd, "", before, removed)
    finally:
        os.close(root_fd)
    return removed


def _remove_new(dir_fd: int, prefix: str, before: Snapshot, removed: list[str]) -> None:
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
                _remove_new(child, rel + os.sep, before, removed)
            finally:
                os.close(child)
            if rel not in before:
                with contextlib.suppress(OSError):
                    os.rmdir(name, dir_fd=dir_fd)
                    removed.append(rel)
        elif rel not in before:
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=dir_fd)
                removed.append(rel)


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
