"""The sandbox: run one command in bubblewrap (or, loudly, without it) under hard limits."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from . import workspace as ws
from .bwrap import BASE_ENV, Bind, InfoPipe, bwrap_argv, write_minimal_etc
from .limits import Limits
from .process import Outcome, OutputCallback, rlimit_prefix, run_limited, spawn, supervise
from .result import Isolation, Reason, RunResult
from .warm import WarmPool, WarmSlot, launcher, warm_payload

log = logging.getLogger("pagi.sandbox")

NOBODY = 65534
WarmStart = Callable[[], Awaitable[WarmSlot]]
QUOTA_POLL_S = 0.25
INLINE_SNAPSHOT_ENTRIES = 200
PROBE_TIMEOUT_S = 15.0
TRUNCATION_MARK = "\n[pagi: output truncated]"


class SandboxUnavailable(RuntimeError):
    pass


def _default_host_user() -> tuple[int, int] | None:
    # A worker running as root hands the sandbox to an unprivileged host uid as well, so even a
    # namespace escape lands as nobody, and RLIMIT_NPROC (ignored for root) holds.
    return (NOBODY, NOBODY) if os.geteuid() == 0 else None


@dataclass(frozen=True)
class SandboxConfig:
    state_dir: Path
    require_sandbox: bool = False
    bwrap: str | None = field(default_factory=lambda: shutil.which("bwrap"))
    host_user: tuple[int, int] | None = field(default_factory=_default_host_user)
    limits: Limits = field(default_factory=Limits)
    python: str = "/usr/bin/python3"
    # Sandboxes kept ready for the next run in a recently used workspace (0: always start cold).
    warm_slots: int = 4
    warm_max_age_s: float = 120.0


@dataclass
class Sandbox:
    config: SandboxConfig
    isolation: Isolation = "none"
    warning: str | None = None
    _locks: dict[Path, asyncio.Lock] = field(default_factory=dict)
    _entries: dict[Path, int] = field(default_factory=dict)
    pool: WarmPool = field(init=False)

    # Where workspaces, /etc and artifacts live: the configured state dir, or a stand-in the sandbox uid
    # can reach when that one sits under a private directory.
    root: Path = field(init=False)

    def __post_init__(self) -> None:
        self.pool = WarmPool(self.config.warm_slots, self.config.warm_max_age_s)
        self.root = self.config.state_dir

    async def close(self) -> None:
        await self.pool.close()

    @property
    def etc_dir(self) -> Path:
        return self.root / "etc"

    @property
    def workspaces(self) -> ws.Workspaces:
        return ws.Workspaces(self.root / "workspaces", self.config.host_user)

    def start(self) -> Isolation:
        """Prepare the state directory and find out, by trying, whether bwrap isolation works here."""
        self.root = self._reachable_root()
        write_minimal_etc(self.etc_dir)
        self.workspaces.ensure_root()
        self.isolation, self.warning = self._probe()
        if self.warning:
            log.warning("SANDBOX: %s", self.warning)
            if self.config.require_sandbox:
                log.error("SANDBOX: PAGI_REQUIRE_SANDBOX is set: every tool run will be refused")
        return self.isolation

    def _reachable_root(self) -> Path:
        state = self.config.state_dir
        state.mkdir(parents=True, exist_ok=True)
        state.chmod(0o711)
        if self.config.host_user is None or ws.traversable_by_others(state):
            return state
        # A data dir under a private home (0700) is common; the sandbox uid must still reach its
        # workspace, so the sandbox state moves to a directory of its own under the system temp dir.
        tag = hashlib.sha256(str(state.resolve()).encode()).hexdigest()[:12]
        stand_in = Path(tempfile.gettempdir()) / f"pagi-sandbox-{os.geteuid()}-{tag}"
        stand_in.mkdir(mode=0o711, exist_ok=True)
        info = stand_in.lstat()
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
            raise SandboxUnavailable(f"{stand_in} exists and is not a directory of this worker's own")
        stand_in.chmod(0o711)
        if not ws.traversable_by_others(stand_in):
            raise SandboxUnavailable(
                f"neither {state} nor {stand_in} is reachable by the sandbox uid {self.config.host_user[0]}: "
                "every parent directory needs the x bit for others"
            )
        log.warning(
            "SANDBOX: %s is not reachable by the sandbox uid %d; workspaces are kept in %s",
            state,
            self.config.host_user[0],
            stand_in,
        )
        return stand_in

    def _probe(self) -> tuple[Isolation, str | None]:
        if not self.config.bwrap:
            return (
                "none",
                "bwrap not found: tools run WITHOUT isolation (rlimits and a private directory only)",
            )
        probe_ws = self.workspaces.ensure("_probe")
        argv = bwrap_argv(
            self.config.bwrap,
            ["/bin/sh", "-c", "exit 0"],
            workspace=probe_ws,
            etc_dir=self.etc_dir,
            limits=self.config.limits,
            env=BASE_ENV,
        )
        host = self.config.host_user
        try:
            done = subprocess.run(
                [*rlimit_prefix(self.config.limits), *argv],
                capture_output=True,
                timeout=PROBE_TIMEOUT_S,
                check=False,
                user=host[0] if host else None,
                group=host[1] if host else None,
                extra_groups=[] if host else None,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return "none", f"bwrap could not start ({exc}): tools run WITHOUT isolation"
        if done.returncode != 0:
            why = done.stderr.decode("utf-8", "replace").strip() or f"exit {done.returncode}"
            return (
                "none",
                f"bwrap does not work here ({why}; user namespaces unavailable?): tools run WITHOUT isolation",
            )
        return "bwrap", None

    def visible_path(self, bind: Bind) -> str:
        """Where the command sees a bound path: its mount point in bwrap, the host path without isolation."""
        return bind.dest if self.isolation == "bwrap" else str(bind.source)

    def lock(self, workspace: Path) -> asyncio.Lock:
        return self._locks.setdefault(workspace, asyncio.Lock())

    async def run(
        self,
        command: Sequence[str],
        workspace: Path,
        *,
        stdin: bytes | None = None,
        limits: Limits | None = None,
        binds: Sequence[Bind] = (),
        env: dict[str, str] | None = None,
        on_output: OutputCallback | None = None,
        as_worker_user: bool = False,
    ) -> RunResult:
        """Run command with workspace as its writable /workspace; one run at a time per workspace."""
        limits = limits or self.config.limits
        if self.isolation == "none" and self.config.require_sandbox:
            return RunResult.refused(
                "none",
                "sandbox_required",
                "refusing to run: sandbox isolation is required (PAGI_REQUIRE_SANDBOX) "
                f"but unavailable: {self.warning}",
            )
        async with self.lock(workspace):
            result, warm_next = await self._run(
                command, workspace, stdin, limits, binds, env or {}, on_output, as_worker_user
            )
        if warm_next is not None:
            # Started only once this run's result is handed back: never inside a timed run.
            self.pool.prepare(workspace, warm_next)
        return result

    async def _run(
        self,
        command: Sequence[str],
        workspace: Path,
        stdin: bytes | None,
        limits: Limits,
        binds: Sequence[Bind],
        env: dict[str, str],
        on_output: OutputCallback | None,
        as_worker_user: bool,
    ) -> tuple[RunResult, WarmStart | None]:
        before = await self._snapshot(workspace)
        full_env = {**BASE_ENV, **env}
        user = None if as_worker_user else self.config.host_user
        # Only runs exactly like the one a slot was built for may use it: default limits, no extra
        # mounts or environment, the sandbox uid.
        warm_ok = self.isolation == "bwrap" and limits == self.config.limits and not binds and not env
        warm_ok = warm_ok and not as_worker_user and self.pool.enabled
        payload = warm_payload(command) if warm_ok else None
        slot = self.pool.take(workspace) if payload is not None else None
        started = time.perf_counter()
        if slot is not None and payload is not None:
            try:
                slot.release(payload)
            except OSError:  # the slot died since it was checked: start cold
                self.pool.drop(slot)
                slot = None
        info = slot.info if slot is not None else InfoPipe() if self.isolation == "bwrap" else None
        if self.isolation == "bwrap":
            assert self.config.bwrap is not None and info is not None
            argv = bwrap_argv(
                self.config.bwrap,
                command,
                workspace=workspace,
                etc_dir=self.etc_dir,
                limits=limits,
                env=full_env,
                binds=binds,
                info_fd=info.write_fd,
            )
            cwd = None
        else:
            argv = list(command)
            full_env["HOME"] = str(workspace)
            cwd = str(workspace)

        stop = asyncio.Event()
        watchdog = asyncio.create_task(self._watch_quota(workspace, limits, stop))
        try:
            if slot is not None:
                outcome = await supervise(
                    slot.proc,
                    started,
                    limits=limits,
                    stdin=stdin,
                    on_output=on_output,
                    stop=stop,
                    stop_reason=lambda: "workspace_quota",
                    target=slot.info.child_pid,
                )
            else:
                outcome = await run_limited(
                    argv,
                    limits=limits,
                    cwd=cwd,
                    env=full_env if self.isolation == "none" else {},
                    stdin=stdin,
                    user=user,
                    on_output=on_output,
                    stop=stop,
                    stop_reason=lambda: "workspace_quota",
                    pass_fds=(info.write_fd,) if info is not None else (),
                    target=info.child_pid if info is not None else None,
                )
        finally:
            if info is not None:
                info.close()
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog

        after = await self._snapshot(workspace)
        over_quota = ws.over_quota(after, limits.workspace_quota_bytes, limits.workspace_max_files)
        # A capped `before` would make pre-existing files look new: then nothing is removed.
        if over_quota and len(before) < ws.MAX_SNAPSHOT_ENTRIES:
            await asyncio.to_thread(ws.remove_created, workspace, before)
            after = await self._snapshot(workspace)
        files_changed = ws.changed(before, after)
        warm_next: WarmStart | None = None
        if payload is not None:
            warm_next = partial(self._start_warm, workspace, limits, full_env)
        return self._result(outcome, limits, files_changed, over_quota), warm_next

    async def _snapshot(self, workspace: Path) -> ws.Snapshot:
        # A thread hop costs more than walking a few entries; a big workspace is walked off the loop.
        if self._entries.get(workspace, INLINE_SNAPSHOT_ENTRIES) < INLINE_SNAPSHOT_ENTRIES:
            snap = ws.snapshot(workspace)
        else:
            snap = await asyncio.to_thread(ws.snapshot, workspace)
        self._entries[workspace] = len(snap)
        return snap

    async def _start_warm(self, workspace: Path, limits: Limits, env: dict[str, str]) -> WarmSlot:
        assert self.config.bwrap is not None
        read_end, write_end = os.pipe()
        info = InfoPipe()
        try:
            argv = bwrap_argv(
                self.config.bwrap,
                launcher(read_end),
                workspace=workspace,
                etc_dir=self.etc_dir,
                limits=limits,
                env=env,
                info_fd=info.write_fd,
            )
            proc = await spawn(
                argv,
                limits=limits,
                stdin_pipe=True,
                user=self.config.host_user,
                pass_fds=(read_end, info.write_fd),
            )
        except BaseException:
            os.close(write_end)
            info.close()
            raise
        finally:
            os.close(read_end)
        return WarmSlot(proc, write_end, info)

    @staticmethod
    async def _watch_quota(workspace: Path, limits: Limits, stop: asyncio.Event) -> None:
        while True:
            await asyncio.sleep(QUOTA_POLL_S)
            snap = await asyncio.to_thread(ws.snapshot, workspace)
            if ws.over_quota(snap, limits.workspace_quota_bytes, limits.workspace_max_files):
                stop.set()
                return

    def _result(self, outcome: Outcome, limits: Limits, files_changed: list[str], over_quota: bool) -> RunResult:
        stdout = outcome.stdout.decode("utf-8", "replace")
        stderr = outcome.stderr.decode("utf-8", "replace")
        reason, error = _classify(outcome, limits, over_quota)
        if outcome.truncated:
            stdout += TRUNCATION_MARK
        return RunResult(
            exit_code=outcome.exit_code,
            stdout=stdout,
            stderr=stderr,
            duration_ms=round(outcome.duration_ms, 3),
            truncated=outcome.truncated,
            isolation=self.isolation,
            files_changed=files_changed,
            reason=reason,
            error=error,
        )


def _classify(outcome: Outcome, limits: Limits, over_quota: bool) -> tuple[Reason | None, str | None]:
    if outcome.spawn_error:
        return "spawn_failed", outcome.spawn_error
    if outcome.killed_for == "timeout":
        return (
            "timeout",
            f"wall-clock timeout of {limits.timeout_s:g} s reached; the process group was killed",
        )
    if outcome.killed_for == "output_limit":
        return "output_limit", (
            f"output limit of {limits.output_bytes} bytes reached; output truncated and the process group was killed"
        )
    if outcome.killed_for == "workspace_quota" or over_quota:
        return "workspace_quota", (
            f"workspace quota of {limits.workspace_quota_bytes} bytes or {limits.workspace_max_files} files exceeded; "
            "the run was stopped and the files it created were removed"
        )
    if outcome.exit_code == 128 + signal.SIGXCPU or (
        outcome.exit_code == 128 + signal.SIGKILL and outcome.duration_ms >= limits.cpu_s * 1000
    ):
        return "cpu_limit", f"CPU time limit of {limits.cpu_s} s reached; the process was killed"
    if outcome.exit_code == 128 + signal.SIGXFSZ:
        return (
            "file_size_limit",
            f"file size limit of {limits.file_size_bytes} bytes reached; the process was killed",
        )
    return None, None
