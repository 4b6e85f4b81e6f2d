"""The bubblewrap command line: what a sandboxed process sees of the host, and nothing more."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .limits import Limits

WORKSPACE = "/workspace"
# Uid and gid the tool runs as inside its user namespace ("nobody"): never root, even when the worker is.
INNER_ID = 65534
BASE_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": WORKSPACE,
    "TMPDIR": "/tmp",
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PAGI_SANDBOX": "1",
    # bash (the warm launcher) adjusts SHLVL around its exec; setting it keeps warm and cold runs identical.
    "SHLVL": "1",
}
# Host /etc entries a tool may need; the rest of /etc (shadow, ssh keys, credentials) is never mounted.
ETC_PASSTHROUGH = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime", "mime.types")
# /lib, /bin and friends are symlinks into /usr on merged-/usr systems, real directories elsewhere.
ROOT_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


@dataclass(frozen=True)
class Bind:
    source: Path
    dest: str
    writable: bool = False


def write_minimal_etc(etc_dir: Path) -> None:
    """passwd/group/hosts naming only the sandbox user, so tools that look themselves up do not fail."""
    etc_dir.mkdir(parents=True, exist_ok=True)
    etc_dir.chmod(0o755)
    files = {
        "passwd": (
            "root:x:0:0:root:/nonexistent:/usr/sbin/nologin\n"
            f"sandbox:x:{INNER_ID}:{INNER_ID}:sandbox:{WORKSPACE}:/bin/sh\n"
        ),
        "group": f"root:x:0:\nsandbox:x:{INNER_ID}:\n",
        "hosts": "127.0.0.1 localhost\n::1 localhost\n",
        "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
    }
    for name, text in files.items():
        path = etc_dir / name
        path.write_text(text)
        path.chmod(0o644)
    # Copied rather than bound one by one: one mount for all of /etc is a measurable part of each run.
    for name in ETC_PASSTHROUGH:
        source, target = Path("/etc") / name, etc_dir / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        elif source.is_dir():
            shutil.copytree(source, target, symlinks=True)
        elif source.is_file():
            shutil.copy2(source, target)


def _root_entries() -> list[str]:
    args: list[str] = []
    for name in ROOT_LINKS:
        host = Path("/") / name
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), f"/{name}"]
        elif host.is_dir():
            args += ["--ro-bind", str(host), f"/{name}"]
    return args


def bwrap_argv(
    bwrap: str,
    command: Sequence[str],
    *,
    workspace: Path,
    etc_dir: Path,
    limits: Limits,
    env: dict[str, str],
    binds: Iterable[Bind] = (),
    chdir: str = WORKSPACE,
    info_fd: int | None = None,
    seccomp_fd: int | None = None,
    disable_userns: bool = False,
    share_net: bool = False,
) -> list[str]:
    args = [
        bwrap,
        *(["--info-fd", str(info_fd)] if info_fd is not None else []),
        "--unshare-all",  # user, pid, net, ipc, uts, cgroup: no network at all
        # Only for a long-lived server registered with a network (tool runs never get one).
        *(["--share-net"] if share_net else []),
        # --disable-userns needs a user namespace for certain, where --unshare-all only tries one.
        *(["--unshare-user", "--disable-userns"] if disable_userns else []),
        # The tool is pid 1 of its namespace, so bwrap waits for it directly: with bwrap's own init the
        # exited init is orphaned to the host's pid 1, and unreaped zombies count against RLIMIT_NPROC.
        "--as-pid-1",
        "--uid",
        str(INNER_ID),
        "--gid",
        str(INNER_ID),
        "--hostname",
        "sandbox",
        "--ro-bind",
        "/usr",
        "/usr",
        *_root_entries(),
        "--ro-bind",
        str(etc_dir),
        "/etc",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        # bwrap's /dev is a tmpfs without a size: bound /dev/shm and make /dev itself read-only, or a
        # tool could fill the host's memory there (the device nodes are separate mounts and stay usable).
        "--size",
        str(limits.tmp_bytes),
        "--tmpfs",
        "/dev/shm",
        "--remount-ro",
        "/dev",
        "--size",
        str(limits.tmp_bytes),
        "--tmpfs",
        "/tmp",
        "--bind",
        str(workspace),
        WORKSPACE,
    ]
    for bind in binds:
        args += ["--bind" if bind.writable else "--ro-bind", str(bind.source), bind.dest]
    # Last, once every mount point exists: bwrap's root is an unsized tmpfs, so the only writable
    # places left are the sized /tmp and /dev/shm, the quota'd workspace and writable binds.
    args += ["--remount-ro", "/"]
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]
    args += ["--chdir", chdir, "--clearenv"]
    for key, value in env.items():
        args += ["--setenv", key, value]
    args += ["--die-with-parent", "--new-session", "--cap-drop", "ALL", "--", *command]
    return args


class InfoPipe:
    """`bwrap --info-fd`: bwrap writes `{"child-pid": N}` once the sandbox's pid 1 exists (host pid)."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        self._data = b""
        self._pid: int | None = None

    def child_pid(self) -> int | None:
        if self._pid is None and self.read_fd >= 0:
            try:
                self._data += os.read(self.read_fd, 4096)
                info, _ = json.JSONDecoder().raw_decode(self._data.decode())
                pid = int(info["child-pid"])
            except (OSError, ValueError, KeyError, TypeError):
                return None
            self._pid = pid if pid > 1 else None
        return self._pid

    def close(self) -> None:
        for fd in (self.read_fd, self.write_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.read_fd = self.write_fd = -1
