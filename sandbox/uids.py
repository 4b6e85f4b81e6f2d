"""A host uid per session from a reserved range, so per-uid limits (RLIMIT_NPROC) bound one session, not all.

The table maps a workspace to its uid and is shared, under an fcntl lock, by every worker of the host
that uses the same range (tool workers, build workers): two sessions never hold one uid while either
runs. A uid goes back to another workspace only when the table is full, least recently used first,
and only when no process of that uid is running anywhere on the host.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Rewriting the table only to refresh a timestamp this recent is not worth a write.
TOUCH_EVERY_S = 5.0
# From this many entries on, a new allocation first forgets workspaces that no longer exist (build
# directories, removed sessions), so the table read on every run stays small.
PRUNE_FROM = 256


class UidsExhausted(RuntimeError):
    pass


def uids_running() -> set[int]:
    """The uids of every process on the host (a /proc entry belongs to its process's effective uid)."""
    found: set[int] = set()
    with contextlib.suppress(OSError), os.scandir("/proc") as it:
        for entry in it:
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    found.add(entry.stat(follow_symlinks=False).st_uid)
    return found


@dataclass
class UidTable:
    path: Path
    base: int
    count: int

    def __post_init__(self) -> None:
        if self.base < 1000 or self.count < 1 or self.base + self.count > 2**31 - 2:
            raise ValueError(f"invalid sandbox uid range {self.base}..{self.base + self.count - 1}")

    @property
    def last(self) -> int:
        return self.base + self.count - 1

    def owns(self, uid: int) -> bool:
        return self.base <= uid <= self.last

    def uid_for(self, key: str) -> int:
        """The uid of this workspace: the one it had, a free one, or the least recently used idle one."""
        now = time.time()
        with self._locked() as table:
            for uid_s, entry in table.items():
                if entry.get("key") == key and self.base <= int(uid_s) <= self.last:
                    if now - float(entry.get("used", 0)) > TOUCH_EVERY_S:
                        entry["used"] = now
                        self._save(table)
                    return int(uid_s)
            uid = self._free_uid(table)
            table[str(uid)] = {"key": key, "used": now}
            self._save(table)
            return uid

    def _free_uid(self, table: dict[str, dict[str, Any]]) -> int:
        busy: set[int] | None = None
        if len(table) >= PRUNE_FROM:
            busy = uids_running()
            for uid_s in [u for u, e in table.items() if not os.path.lexists(str(e.get("key", "")))]:
                if int(uid_s) not in busy:
                    del table[uid_s]
        taken = {int(u) for u in table}
        for uid in range(self.base, self.last + 1):
            if uid not in taken:
                return uid
        busy = uids_running() if busy is None else busy
        by_age = sorted(table.items(), key=lambda item: float(item[1].get("used", 0)))
        for uid_s, entry in by_age:
            uid = int(uid_s)
            if uid not in busy and self.owns(uid):
                del table[uid_s]
                lock_out(Path(str(entry.get("key", ""))), uid)
                return uid
        raise UidsExhausted(
            f"every sandbox uid {self.base}..{self.last} is in use by a running session (raise PAGI_SANDBOX_UID_COUNT)"
        )

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, dict[str, Any]]]:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock_fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            yield self._load()
        finally:
            os.close(lock_fd)

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return {}
        with os.fdopen(fd, "rb") as f:
            try:
                data = json.loads(f.read() or b"{}")
            except ValueError:
                return {}  # a torn or foreign file: start over (owners are re-checked on every run)
        return {str(k): v for k, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else {}

    def _save(self, table: dict[str, dict[str, Any]]) -> None:
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        with open(tmp, "w") as f:
            json.dump(table, f, separators=(",", ":"))
        os.replace(tmp, self.path)


def lock_out(workspace: Path, uid: int) -> None:
    """The workspace whose uid goes to another session becomes root's until its own session runs again
    (and gets a new uid): the uid's next holder, escaped or unisolated, cannot enter it."""
    with contextlib.suppress(OSError):
        fd = os.open(workspace, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            if os.fstat(fd).st_uid == uid:
                os.fchown(fd, 0, 0)
                os.fchmod(fd, 0o700)
        finally:
            os.close(fd)


def reown(root: Path, was_sandbox: Callable[[int], bool], new_uid: int, new_gid: int, max_entries: int) -> int:
    """Give a workspace whose session got a new uid to that uid: root and every entry a sandbox uid
    owned (`was_sandbox`), at most max_entries, walking from open directory fds and never following a
    symlink. Entries of other owners (root's files put there by a worker) stay theirs.
    Returns how many entries were changed."""
    changed = 0
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        os.fchown(root_fd, new_uid, new_gid)
        changed += 1
        stack = [root_fd]
        while stack and changed < max_entries:
            dir_fd = stack.pop()
            try:
                for name in os.listdir(dir_fd):
                    if changed >= max_entries:
                        break
                    with contextlib.suppress(OSError):
                        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                        if st.st_uid != new_uid and was_sandbox(st.st_uid):
                            os.chown(name, new_uid, new_gid, dir_fd=dir_fd, follow_symlinks=False)
                            changed += 1
                        if (st.st_mode & 0o170000) == 0o040000:
                            stack.append(os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd))
            except OSError:
                pass
            finally:
                if dir_fd != root_fd:
                    os.close(dir_fd)
        for fd in stack:
            if fd != root_fd:
                os.close(fd)
    finally:
        os.close(root_fd)
    return changed
