"""Spawn a command with rlimits in its own process group, capture capped output, kill the group at a limit."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import shutil
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .child_cpu import ChildCpu
from .limits import Limits

OutputCallback = Callable[[str, str], Awaitable[None]]
PRLIMIT = shutil.which("prlimit")
# After a kill, how long readers may drain what is left in the pipes.
DRAIN_S = 2.0
# After killing the sandbox's pid 1, how long bwrap has to notice before its whole group is killed.
KILL_GRACE_S = 3.0
TARGET_POLLS = 200
READ_CHUNK = 64 * 1024


@dataclass
class Outcome:
    exit_code: int
    stdout: bytes
    stderr: bytes
    duration_ms: float
    truncated: bool
    killed_for: str | None = None  # "timeout" | "output_limit" | an external stop reason
    spawn_error: str | None = None
    cpu_ms: float | None = None  # None: not measured (sandbox/child_cpu.py)


@dataclass
class _Capture:
    limit: int
    on_output: OutputCallback | None
    buffers: dict[str, bytearray] = field(default_factory=lambda: {"stdout": bytearray(), "stderr": bytearray()})
    partial: dict[str, bytes] = field(default_factory=lambda: {"stdout": b"", "stderr": b""})
    total: int = 0
    truncated: bool = False

    async def feed(self, name: str, chunk: bytes) -> bool:
        """Keep what fits under the cap; False once it overflowed."""
        room = self.limit - self.total
        kept = chunk[: max(room, 0)]
        self.buffers[name] += kept
        self.total += len(kept)
        if self.on_output is not None and kept:
            data = self.partial[name] + kept
            *lines, rest = data.split(b"\n")
            self.partial[name] = rest
            for line in lines:
                await self.on_output(name, line.decode("utf-8", "replace"))
        if len(kept) < len(chunk):
            self.truncated = True
            return False
        return True

    async def flush(self) -> None:
        if self.on_output is None:
            return
        for name, rest in self.partial.items():
            if rest:
                await self.on_output(name, rest.decode("utf-8", "replace"))
            self.partial[name] = b""


def rlimit_prefix(limits: Limits) -> list[str]:
    # Soft CPU limit sends SIGXCPU, the hard one a second later SIGKILL; core dumps are off.
    return [
        PRLIMIT or "prlimit",
        f"--cpu={limits.cpu_s}:{limits.cpu_s + 1}",
        f"--as={limits.address_space_bytes}",
        f"--nproc={limits.nproc}",
        f"--fsize={limits.file_size_bytes}",
        "--core=0",
        "--",
    ]


def _preexec_rlimits(limits: Limits) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 1))
        resource.setrlimit(resource.RLIMIT_AS, (limits.address_space_bytes, limits.address_space_bytes))
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.nproc, limits.nproc))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size_bytes, limits.file_size_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


Target = Callable[[], int | None]


async def kill_sandbox(proc: asyncio.subprocess.Process, target: Target | None) -> None:
    """Kill what runs in the sandbox: its pid 1 when bwrap has named it, else the whole group.

    Killing pid 1 ends every process of the sandbox's pid namespace and lets bwrap reap it. Killing
    bwrap instead orphans pid 1 to the host's init, and while bwrap is still setting up, its child
    has not armed its parent-death signal yet and would run on unsupervised: so when the name is not
    there yet, wait for it (bwrap writes it right after creating the child) rather than kill bwrap.
    """
    if target is not None:
        for _ in range(TARGET_POLLS):
            pid = target()
            # bwrap's child, or orphaned to init if bwrap died: never some unrelated process.
            if pid is not None and _parent_of(pid) in (proc.pid, 1):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
                return
            if proc.returncode is not None or not running(proc.pid):
                break
            await asyncio.sleep(0.01)
    kill_group(proc.pid)


def running(pid: int) -> bool:
    """Alive and not a zombie (asyncio learns of an exit only once it has reaped the child)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except (OSError, IndexError):
        return False


def _parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            # The command name (field 2) is in parentheses and may hold spaces: parse after the last ")".
            return int(f.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def normalise_exit(returncode: int) -> int:
    """Killed by a signal: 128 + signal, the shell's (and bwrap's) convention."""
    return 128 - returncode if returncode < 0 else returncode


async def spawn(
    argv: Sequence[str],
    *,
    limits: Limits,
    cwd: str | None = None,
    env: dict[str, str] | None = None,
    stdin_pipe: bool = False,
    user: tuple[int, int] | None = None,
    pass_fds: Sequence[int] = (),
) -> asyncio.subprocess.Process:
    """Start argv under limits as the leader of a new session (so its whole group can be killed)."""
    prefix = rlimit_prefix(limits) if PRLIMIT else []
    return await asyncio.create_subprocess_exec(
        *prefix,
        *argv,
        cwd=cwd,
        env=env if env is not None else {},
        stdin=asyncio.subprocess.PIPE if stdin_pipe else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
        user=user[0] if user else None,
        group=user[1] if user else None,
        extra_groups=[] if user else None,
        preexec_fn=None if PRLIMIT else _preexec_rlimits(limits),
        pass_fds=tuple(pass_fds),
    )


async def run_limited(
    argv: Sequence[str],
    *,
    limits: Limits,
    cwd: str | None = None,
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
    user: tuple[int, int] | None = None,
    on_output: OutputCallback | None = None,
    stop: asyncio.Event | None = None,
    stop_reason: Callable[[], str] | None = None,
    pass_fds: Sequence[int] = (),
    target: Target | None = None,
) -> Outcome:
    """Run argv under limits. The process group is killed on timeout, output overflow or `stop`."""
    started = time.perf_counter()
    spawning = asyncio.ensure_future(
        spawn(argv, limits=limits, cwd=cwd, env=env, stdin_pipe=stdin is not None, user=user, pass_fds=pass_fds)
    )
    try:
        # Shielded: a cancellation half-way through would have asyncio kill bwrap mid-set-up.
        proc = await asyncio.shield(spawning)
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in an argument
        return Outcome(-1, b"", b"", 0.0, False, spawn_error=f"could not start {argv[0]}: {exc}")
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            started_proc = await spawning
            await kill_sandbox(started_proc, target)
            await asyncio.wait_for(started_proc.communicate(), KILL_GRACE_S)
        raise
    return await supervise(
        proc,
        started,
        limits=limits,
        stdin=stdin,
        on_output=on_output,
        stop=stop,
        stop_reason=stop_reason,
        target=target,
    )


async def supervise(
    proc: asyncio.subprocess.Process,
    started: float,
    *,
    limits: Limits,
    stdin: bytes | None = None,
    on_output: OutputCallback | None = None,
    stop: asyncio.Event | None = None,
    stop_reason: Callable[[], str] | None = None,
    target: Target | None = None,
) -> Outcome:
    """Feed stdin, capture capped output, and kill the process group at the first limit reached.

    `target` names the sandbox's pid 1 when known: killing it ends every process in the sandbox's
    pid namespace and lets bwrap reap it, where killing bwrap would orphan it to the host's init.
    """
    capture = _Capture(limits.output_bytes, on_output)
    cpu = ChildCpu()
    killed_for: list[str] = []
    killers: list[asyncio.Task[None]] = []

    def kill(reason: str) -> None:
        if not killed_for:
            killed_for.append(reason)
            killers.append(asyncio.get_running_loop().create_task(kill_sandbox(proc, target)))

    async def pump(name: str, reader: asyncio.StreamReader | None) -> None:
        if reader is None:
            return
        # Read to EOF even past the cap: asyncio reports the exit only once every pipe is closed.
        while chunk := await reader.read(READ_CHUNK):
            if not capture.truncated and not await capture.feed(name, chunk):
                kill("output_limit")

    async def feed_stdin() -> None:
        if proc.stdin is None:
            return
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            if stdin:
                proc.stdin.write(stdin)
                await proc.stdin.drain()
            proc.stdin.close()

    pumps = [
        asyncio.create_task(pump("stdout", proc.stdout)),
        asyncio.create_task(pump("stderr", proc.stderr)),
        asyncio.create_task(feed_stdin()),
    ]
    waiter = asyncio.create_task(proc.wait())
    watchers: list[asyncio.Task[Any]] = []
    if stop is not None:
        watchers.append(asyncio.create_task(stop.wait()))
    try:
        done, _ = await asyncio.wait([waiter, *watchers], timeout=limits.timeout_s, return_when="FIRST_COMPLETED")
        if waiter not in done:
            kill(stop_reason() if stop is not None and stop.is_set() and stop_reason else "timeout")
            try:
                await asyncio.wait_for(asyncio.shield(waiter), KILL_GRACE_S)
            except TimeoutError:
                kill_group(proc.pid)
                await waiter
        _, pending = await asyncio.wait(pumps, timeout=DRAIN_S)
        for task in pending:
            task.cancel()
    finally:
        for task in watchers:
            task.cancel()
        if proc.returncode is None:  # cancelled: stop the tool, with the pumps still draining its pipes
            kill("cancelled")
            try:
                await asyncio.wait_for(asyncio.shield(waiter), TARGET_POLLS * 0.01 + KILL_GRACE_S)
            except TimeoutError:
                kill_group(proc.pid)
        for task in pumps:
            task.cancel()
        if killers:
            await asyncio.wait(killers, timeout=TARGET_POLLS * 0.01 + 1)
        # The sandboxed tree may outlive its leader in the no-isolation fallback.
        kill_group(proc.pid)
        cpu_ms = cpu.stop() if proc.returncode is not None else None
    await capture.flush()
    return Outcome(
        exit_code=normalise_exit(proc.returncode if proc.returncode is not None else -9),
        stdout=bytes(capture.buffers["stdout"]),
        stderr=bytes(capture.buffers["stderr"]),
        duration_ms=(time.perf_counter() - started) * 1000.0,
        truncated=capture.truncated,
        killed_for=killed_for[0] if killed_for else None,
        cpu_ms=cpu_ms,
    )
