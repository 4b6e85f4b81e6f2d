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

from . import disk
from . import workspace as ws
from .bwrap import BASE_ENV, Bind, InfoPipe, bwrap_argv, write_minimal_etc
from .limits import Limits
from .process import Outcome, OutputCallback, rlimit_prefix, run_limited, spawn, supervise
from .result import Isolation, PidsScope, Reason, RunResult
from .seccomp import SeccompUnavailable, compile_filter, filter_fd
from .uids import UidsExhausted, UidTable, reown
from .warm import WarmPool, WarmSlot, launcher, warm_payload

log = logging.getLogger("pagi.sandbox")

NOBODY = 65534
DEFAULT_UID_BASE = 200_000
DEFAULT_UID_COUNT = 4096
WarmStart = Callable[[], Awaitable[WarmSlot]]
QUOTA_POLL_S = 0.25
# statvfs costs about 12 µs: the free space is looked at far more often than the workspace is walked, so a
# tool writing at memory speed overshoots the floor by what it writes in this long, not in QUOTA_POLL_S.
DISK_POLL_S = 0.02
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
    # A host uid per session from this range (base, count) when the worker is root; None: every
    # session shares host_user, and so its per-uid process limit.
    session_uids: tuple[int, int] | None = (DEFAULT_UID_BASE, DEFAULT_UID_COUNT)
    # The table of which session holds which uid: one per range and host, shared by every worker using it.
    uid_table: Path | None = None
    seccomp: bool = True
    # Where the session workspaces live (a filesystem of their own, ideally); default state_dir/workspaces.
    workspaces_dir: Path | None = None
    # No run starts, and a running one is stopped, below this many free bytes there (None: 1 GiB or 5 %).
    min_free_bytes: int | None = None


@dataclass
class Sandbox:
    config: SandboxConfig
    isolation: Isolation = "none"
    warning: str | None = None
    userns_disabled: bool = False
    seccomp_on: bool = False
    pids_scope: PidsScope = "worker_uid"
    # Set when per-run process limits are shared more widely than per session: why.
    pids_warning: str | None = None
    disk_floor: int = 0
    # Told the workspace filesystem's free bytes after every check (the worker's heartbeat).
    on_free_bytes: Callable[[int], None] | None = None
    _locks: dict[Path, asyncio.Lock] = field(default_factory=dict)
    _entries: dict[Path, int] = field(default_factory=dict)
    _seccomp: bytes | None = None
    _uids: UidTable | None = None
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
        return ws.Workspaces(self.config.workspaces_dir or self.root / "workspaces", self.config.host_user)

    def start(self) -> Isolation:
        """Prepare the state directory and find out, by trying, whether bwrap isolation works here."""
        self.root = self._reachable_root()
        write_minimal_etc(self.etc_dir)
        self.workspaces.ensure_root()
        self.disk_floor = disk.floor_bytes(self.workspaces.root, self.config.min_free_bytes)
        self._start_uids()
        seccomp_warning = self._compile_seccomp()
        self.isolation, self.warning = self._probe()
        if self.isolation == "bwrap" and seccomp_warning:
            self.warning = seccomp_warning
        if self.warning:
            log.warning("SANDBOX: %s", self.warning)
            if self.config.require_sandbox and self.isolation == "none":
                log.error("SANDBOX: PAGI_REQUIRE_SANDBOX is set: every tool run will be refused")
        if self.pids_warning:
            log.warning("SANDBOX: %s", self.pids_warning)
        return self.isolation

    def _start_uids(self) -> None:
        host, uids = self.config.host_user, self.config.session_uids
        if host is not None and uids is not None:
            base, count = uids
            table = self.config.uid_table or Path(f"/run/pagi/sandbox-uids-{base}-{count}.json")
            self._uids = UidTable(table, base, count)
            self.pids_scope, self.pids_warning = "session_uid", None
        elif host is not None:
            self.pids_scope = "shared_uid"
            self.pids_warning = (
                f"every session runs as host uid {host[0]}: one session can use up the process limit "
                "of all (set PAGI_SANDBOX_UID_COUNT above 0 for a uid per session)"
            )
        else:
            self.pids_scope = "worker_uid"
            self.pids_warning = (
                f"the worker is not root, so every sandboxed run shares its uid {os.geteuid()}: the "
                "process limit is per worker, one session can use it up for every other session "
                "(run the worker as root for a uid per session)"
            )

    def _compile_seccomp(self) -> str | None:
        if not self.config.seccomp or not self.config.bwrap:
            return None if not self.config.bwrap else "the seccomp filter is turned off (PAGI_SANDBOX_SECCOMP)"
        try:
            self._seccomp = compile_filter()
        except SeccompUnavailable as exc:
            return f"{exc}: tools run in bwrap WITHOUT a seccomp filter"
        return None

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
        try:
            host = self._user_for_sync(probe_ws)
        except UidsExhausted as exc:
            return "none", f"no sandbox uid for the probe ({exc}): tools run WITHOUT isolation"
        why = self._probe_once(probe_ws, host, hardened=True)
        if why is None:
            self.userns_disabled, self.seccomp_on = True, self._seccomp is not None
            return "bwrap", None
        if self._probe_once(probe_ws, host, hardened=False) is None:
            self._seccomp = None
            return "bwrap", (
                f"bwrap works, but not with --disable-userns and the seccomp filter ({why}): tools run "
                "in bwrap WITHOUT them (nested user namespaces and every syscall allowed)"
            )
        return (
            "none",
            f"bwrap does not work here ({why}; user namespaces unavailable?): tools run WITHOUT isolation",
        )

    def _probe_once(self, probe_ws: Path, host: tuple[int, int] | None, *, hardened: bool) -> str | None:
        assert self.config.bwrap is not None
        seccomp_fd = filter_fd(self._seccomp) if hardened and self._seccomp is not None else None
        argv = bwrap_argv(
            self.config.bwrap,
            ["/bin/sh", "-c", "exit 0"],
            workspace=probe_ws,
            etc_dir=self.etc_dir,
            limits=self.config.limits,
            env=BASE_ENV,
            seccomp_fd=seccomp_fd,
            disable_userns=hardened,
        )
        try:
            done = subprocess.run(
                [*rlimit_prefix(self.config.limits), *argv],
                capture_output=True,
                timeout=PROBE_TIMEOUT_S,
                check=False,
                user=host[0] if host else None,
                group=host[1] if host else None,
                extra_groups=[] if host else None,
                pass_fds=(seccomp_fd,) if seccomp_fd is not None else (),
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"bwrap could not start ({exc})"
        finally:
            if seccomp_fd is not None:
                os.close(seccomp_fd)
        if done.returncode != 0:
            return done.stderr.decode("utf-8", "replace").strip() or f"exit {done.returncode}"
        return None

    def _session_uid(self, workspace: Path) -> tuple[int, int]:
        """The session's uid from the table, and who owns its workspace now."""
        assert self._uids is not None
        return self._uids.uid_for(str(workspace)), os.lstat(workspace).st_uid

    def _was_sandbox(self, uid: int) -> bool:
        """A uid this worker's sandboxes run as (or ran as before per-session uids)."""
        host = self.config.host_user
        return (self._uids is not None and self._uids.owns(uid)) or (host is not None and uid == host[0])

    def _user_for_sync(self, workspace: Path) -> tuple[int, int] | None:
        """The host uid a run in this workspace gets (its session's own), the workspace given to it."""
        if self._uids is None:
            return self.config.host_user
        uid, owner = self._session_uid(workspace)
        if owner != uid:
            reown(workspace, self._was_sandbox, uid, uid, ws.MAX_SNAPSHOT_ENTRIES)
        return uid, uid

    async def user_for(self, workspace: Path) -> tuple[int, int] | None:
        if self._uids is None:
            return self.config.host_user
        # The table lookup is a lock and a small read, cheaper than a thread hop; a re-own walk is not.
        uid, owner = self._session_uid(workspace)
        if owner != uid:
            await asyncio.to_thread(reown, workspace, self._was_sandbox, uid, uid, ws.MAX_SNAPSHOT_ENTRIES)
        return uid, uid

    def free_bytes(self, where: Path | None = None) -> int:
        """Free bytes on the filesystem holding `where` (a run's workspaces; default the session workspaces)."""
        free = disk.free_bytes(where or self.workspaces.root)
        if self.on_free_bytes is not None:
            self.on_free_bytes(free)
        return free

    @property
    def seccomp_filter(self) -> bytes | None:
        """The compiled filter every sandboxed process gets (None: off or unavailable)."""
        return self._seccomp

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
        # The workspace's own filesystem: the build worker's build directories live beside, not in, the
        # session workspaces, which may be a filesystem of their own (PAGI_WORKSPACES_DIR).
        free = self.free_bytes(workspace.parent)
        if free < self.disk_floor:
            error = disk.below_floor_error(workspace.parent, free, self.disk_floor)
            return RunResult.refused(self.isolation, "disk_full", error)
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
        try:
            user = None if as_worker_user else await self.user_for(workspace)
        except (UidsExhausted, OSError) as exc:
            return RunResult.refused(self.isolation, "spawn_failed", f"no host uid for this session: {exc}"), None
        before = await self._snapshot(workspace)
        full_env = {**BASE_ENV, **env}
        # Only runs exactly like the one a slot was built for may use it: default limits, no extra
        # mounts or environment, the sandbox uid.
        warm_ok = self.isolation == "bwrap" and limits == self.config.limits and not binds and not env
        warm_ok = warm_ok and not as_worker_user and self.pool.enabled
        payload = warm_payload(command) if warm_ok else None
        slot = self.pool.take(workspace, user) if payload is not None else None
        started = time.perf_counter()
        if slot is not None and payload is not None:
            try:
                slot.release(payload)
            except OSError:  # the slot died since it was checked: start cold
                self.pool.drop(slot)
                slot = None
        info = slot.info if slot is not None else InfoPipe() if self.isolation == "bwrap" else None
        seccomp_fd: int | None = None
        if self.isolation == "bwrap":
            assert self.config.bwrap is not None and info is not None
            if slot is None and self._seccomp is not None:
                seccomp_fd = filter_fd(self._seccomp)
            argv = bwrap_argv(
                self.config.bwrap,
                command,
                workspace=workspace,
                etc_dir=self.etc_dir,
                limits=limits,
                env=full_env,
                binds=binds,
                info_fd=info.write_fd,
                seccomp_fd=seccomp_fd,
                disable_userns=self.userns_disabled,
            )
            cwd = None
        else:
            argv = list(command)
            full_env["HOME"] = str(workspace)
            cwd = str(workspace)

        stop = asyncio.Event()
        stopped_for: list[Reason] = []
        watchdog = asyncio.create_task(self._watch(workspace, limits, stop, stopped_for))
        started_tool = slot is not None
        try:
            if slot is not None:
                outcome = await supervise(
                    slot.proc,
                    started,
                    limits=limits,
                    stdin=stdin,
                    on_output=on_output,
                    stop=stop,
                    stop_reason=lambda: stopped_for[0],
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
                    stop_reason=lambda: stopped_for[0],
                    pass_fds=tuple(fd for fd in (info.write_fd if info else None, seccomp_fd) if fd is not None),
                    target=info.child_pid if info is not None else None,
                )
                started_tool = info is None or info.child_pid() is not None
        finally:
            if seccomp_fd is not None:
                os.close(seccomp_fd)
            if info is not None:
                info.close()
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog

        if not started_tool and outcome.exit_code != 0 and not outcome.spawn_error and not outcome.killed_for:
            # bwrap gave up before the tool existed (no namespace, no uid map): nothing ran.
            why = outcome.stderr.decode("utf-8", "replace").strip() or f"exit {outcome.exit_code}"
            outcome.spawn_error = f"the sandbox could not be set up: {why}"
        after = await self._snapshot(workspace)
        over_quota = ws.over_quota(after, limits.workspace_quota_bytes, limits.workspace_max_files)
        removed: list[str] = []
        if over_quota:
            removed = await asyncio.to_thread(
                ws.remove_over_quota,
                workspace,
                before,
                after,
                limits.workspace_quota_bytes,
                limits.workspace_max_files,
            )
            after = await self._snapshot(workspace)
        files_changed = ws.changed(before, after)
        if not stopped_for and self.free_bytes(workspace.parent) < self.disk_floor:
            stopped_for.append("disk_full")
        warm_next: WarmStart | None = None
        if payload is not None:
            warm_next = partial(self._start_warm, workspace, limits, full_env, user)
        result = self._result(outcome, limits, files_changed, over_quota, removed, stopped_for, after, workspace)
        return result, warm_next

    async def _snapshot(self, workspace: Path) -> ws.Snapshot:
        # A thread hop costs more than walking a few entries; a big workspace is walked off the loop.
        if self._entries.get(workspace, INLINE_SNAPSHOT_ENTRIES) < INLINE_SNAPSHOT_ENTRIES:
            snap = ws.snapshot(workspace)
        else:
            snap = await asyncio.to_thread(ws.snapshot, workspace)
        self._entries[workspace] = len(snap)
        return snap

    async def _start_warm(
        self, workspace: Path, limits: Limits, env: dict[str, str], user: tuple[int, int] | None
    ) -> WarmSlot:
        assert self.config.bwrap is not None
        read_end, write_end = os.pipe()
        info = InfoPipe()
        seccomp_fd = filter_fd(self._seccomp) if self._seccomp is not None else None
        try:
            argv = bwrap_argv(
                self.config.bwrap,
                launcher(read_end),
                workspace=workspace,
                etc_dir=self.etc_dir,
                limits=limits,
                env=env,
                info_fd=info.write_fd,
                seccomp_fd=seccomp_fd,
                disable_userns=self.userns_disabled,
            )
            proc = await spawn(
                argv,
                limits=limits,
                stdin_pipe=True,
                user=user,
                pass_fds=tuple(fd for fd in (read_end, info.write_fd, seccomp_fd) if fd is not None),
            )
        except BaseException:
            os.close(write_end)
            info.close()
            raise
        finally:
            os.close(read_end)
            if seccomp_fd is not None:
                os.close(seccomp_fd)
        return WarmSlot(proc, write_end, info, user=user)

    async def _watch(self, workspace: Path, limits: Limits, stop: asyncio.Event, why: list[Reason]) -> None:
        """Stop the run once the workspace is over quota or the disk under its floor."""
        where = workspace.parent
        loop = asyncio.get_running_loop()
        while True:
            walk_at = loop.time() + QUOTA_POLL_S
            while loop.time() < walk_at:
                await asyncio.sleep(DISK_POLL_S)
                if disk.free_bytes(where) < self.disk_floor:
                    self.free_bytes(where)  # tell the heartbeat
                    why.append("disk_full")
                    stop.set()
                    return
            snap = await asyncio.to_thread(ws.snapshot, workspace)
            if ws.over_quota(snap, limits.workspace_quota_bytes, limits.workspace_max_files):
                why.append("workspace_quota")
                stop.set()
                return

    def _result(
        self,
        outcome: Outcome,
        limits: Limits,
        files_changed: list[str],
        over_quota: bool,
        removed: list[str],
        stopped_for: list[Reason],
        after: ws.Snapshot,
        workspace: Path,
    ) -> RunResult:
        stdout = outcome.stdout.decode("utf-8", "replace")
        stderr = outcome.stderr.decode("utf-8", "replace")
        below_floor = None
        if stopped_for and stopped_for[0] == "disk_full":
            free = disk.free_bytes(workspace.parent)
            below_floor = disk.stopped_below_floor_error(workspace.parent, free, self.disk_floor)
        reason, error = _classify(outcome, limits, over_quota, removed, after, below_floor)
        if outcome.truncated:
            stdout += TRUNCATION_MARK
        return RunResult(
            exit_code=outcome.exit_code,
            stdout=stdout,
            stderr=stderr,
            duration_ms=round(outcome.duration_ms, 3),
            truncated=outcome.truncated,
            isolation=self.isolation,
            cpu_ms=outcome.cpu_ms,
            files_changed=_listed(files_changed),
            files_removed=_listed(removed),
            reason=reason,
            error=error,
        )


# The error text names at most this many removed files; files_changed and files_removed list at most
# LISTED paths and LISTED_CHARS characters of them, so a result always fits one event (1 MiB) whatever a
# tool named its files; the error always gives the full count removed.
REMOVED_IN_ERROR = 20
LISTED = 1000
LISTED_CHARS = 128 * 1024


def _listed(paths: list[str]) -> list[str]:
    kept: list[str] = []
    chars = 0
    for path in paths[:LISTED]:
        chars += len(path)
        if chars > LISTED_CHARS:
            break
        kept.append(path)
    return kept


def _quota_error(limits: Limits, removed: list[str], after: ws.Snapshot) -> str:
    text = (
        f"workspace quota of {limits.workspace_quota_bytes} bytes or {limits.workspace_max_files} files exceeded; "
        "the run was stopped"
    )
    if removed:
        names = ", ".join(removed[:REMOVED_IN_ERROR])
        more = f" and {len(removed) - REMOVED_IN_ERROR} more" if len(removed) > REMOVED_IN_ERROR else ""
        text += f" and what it created or changed was removed, newest first ({len(removed)} entries): {names}{more}"
    else:
        text += "; nothing it created or changed was left to remove"
    if ws.over_quota(after, limits.workspace_quota_bytes, limits.workspace_max_files):
        text += f"; the workspace still holds {ws.total_bytes(after)} bytes in {len(after)} entries"
        if after.hidden:
            text += f" and {after.hidden} directories the worker cannot read"
    return text


def _classify(
    outcome: Outcome,
    limits: Limits,
    over_quota: bool,
    removed: list[str],
    after: ws.Snapshot,
    below_floor: str | None,
) -> tuple[Reason | None, str | None]:
    """`below_floor`: why the run was stopped for disk space, when it was."""
    if outcome.spawn_error:
        return "spawn_failed", outcome.spawn_error
    if below_floor is not None and not over_quota:
        return "disk_full", below_floor
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
        return "workspace_quota", _quota_error(limits, removed, after)
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
