"""A long-lived sandboxed process (an MCP server): the same bubblewrap, seccomp filter, host uid and
rlimits as a tool run, but started once and kept, its stdin/stdout/stderr left open to the caller.

Its writable directory is its state directory (its `/workspace` and `HOME`); `binds` add what its
program needs, read-only, and folders it may use. No network unless `network` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .bwrap import BASE_ENV, Bind, InfoPipe, bwrap_argv
from .limits import Limits
from .process import KILL_GRACE_S, kill_group, kill_sandbox, spawn
from .result import Isolation
from .sandbox import Sandbox, SandboxUnavailable
from .seccomp import filter_fd

# What a process with a network needs of the host's /etc: its resolver, and the CA certificates
# (symlinks into /usr/share, which every sandbox has). Never the rest (/etc/ssl/private).
RESOLV_CONF = Path("/etc/resolv.conf")
CA_CERTS = Path("/etc/ssl/certs")


def network_etc(sandbox: Sandbox) -> tuple[Path, list[Bind]]:
    """The /etc of a sandbox with a network: the minimal one plus the resolver and CA certificates."""
    etc = sandbox.root / "etc-net"
    if not etc.is_dir():
        shutil.copytree(sandbox.etc_dir, etc, symlinks=True)
    resolv = etc / "resolv.conf"
    try:
        resolv.write_text(RESOLV_CONF.read_text()[: 64 * 1024])  # read at each start: it may have changed
    except OSError:
        resolv.write_text("")
    resolv.chmod(0o644)
    binds: list[Bind] = []
    if CA_CERTS.is_dir():
        (etc / "ssl" / "certs").mkdir(parents=True, exist_ok=True)
        (etc / "ssl").chmod(0o755)
        binds.append(Bind(CA_CERTS, str(CA_CERTS)))
    return etc, binds


@dataclass
class SandboxedProcess:
    proc: asyncio.subprocess.Process
    isolation: Isolation
    info: InfoPipe | None = None

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None

    async def kill(self) -> None:
        """Kill everything in the sandbox (its pid 1 when bwrap named it) and reap bwrap."""
        if self.proc.returncode is None:
            await kill_sandbox(self.proc, self.info.child_pid if self.info is not None else None)
            try:
                await asyncio.wait_for(self.proc.wait(), KILL_GRACE_S)
            except TimeoutError:
                kill_group(self.proc.pid)
        kill_group(self.proc.pid)
        if self.info is not None:
            self.info.close()


async def start_process(
    sandbox: Sandbox,
    command: Sequence[str],
    state_dir: Path,
    *,
    limits: Limits,
    binds: Sequence[Bind] = (),
    network: bool = False,
    env: dict[str, str] | None = None,
    as_worker_user: bool = False,
) -> SandboxedProcess:
    """Start `command` in the sandbox with `state_dir` as its writable `/workspace`. Raises
    `SandboxUnavailable` when isolation is required but missing, `OSError` when it cannot start.
    `as_worker_user`: bwrap runs as the worker's own uid (it can bind folders the sandbox uid cannot
    reach); inside, the process is still the unprivileged sandbox user."""
    if sandbox.isolation == "none" and sandbox.config.require_sandbox:
        raise SandboxUnavailable(
            f"sandbox isolation is required (PAGI_REQUIRE_SANDBOX) but unavailable: {sandbox.warning}"
        )
    user = None if as_worker_user else await sandbox.user_for(state_dir)
    full_env = {**BASE_ENV, **(env or {})}
    if sandbox.isolation == "none":
        proc = await spawn(
            list(command), limits=limits, cwd=str(state_dir), env={**full_env, "HOME": str(state_dir)},
            stdin_pipe=True, user=user,
        )  # fmt: skip
        return SandboxedProcess(proc, "none")
    assert sandbox.config.bwrap is not None
    fds: list[int] = []
    etc_dir, etc_binds = network_etc(sandbox) if network else (sandbox.etc_dir, [])
    info = InfoPipe()
    try:
        seccomp = sandbox.seccomp_filter
        seccomp_fd = filter_fd(seccomp) if seccomp is not None else None
        if seccomp_fd is not None:
            fds.append(seccomp_fd)
        argv = bwrap_argv(
            sandbox.config.bwrap,
            command,
            workspace=state_dir,
            etc_dir=etc_dir,
            limits=limits,
            env=full_env,
            binds=[*etc_binds, *binds],
            info_fd=info.write_fd,
            seccomp_fd=seccomp_fd,
            disable_userns=sandbox.userns_disabled,
            share_net=network,
        )
        proc = await spawn(argv, limits=limits, stdin_pipe=True, user=user, pass_fds=(*fds, info.write_fd))
    except BaseException:
        info.close()
        raise
    finally:
        # bwrap holds its own copies once started.
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
    return SandboxedProcess(proc, "bwrap", info)
