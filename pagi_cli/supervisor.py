"""Child processes of `pagi up`: start, prefix their output, restart on crash with backoff, stop in order.

A child that keeps dying is restarted for as long as `pagi up` runs, never given up on: one worker
that cannot live (its disk is full, its store is corrupt) must not take the rest of the stack down
with it. The delay grows with the crashes in a row (`RestartPolicy`) up to a cap, so a crash loop
costs a start every `cap_s` at most; a child that stayed up for `stable_after_s` starts a new streak.
Each streak is loud once (the child's last output), then one line per crash; every change of state
goes to `on_change`, which `pagi up` turns into its heartbeat for the edge's /health.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bus_schemas.supervision import ChildReport, ChildState
from pagi.backoff import Backoff
from pagi.service import READY_LINE

from .process import parent_death_signal

RECENT_LINES = 20
# The n-th crash in a row waits 0.5 s * 2**(n-1) before the restart, at most 30 s: a child that can
# never live costs one start every 30 s, for as long as `pagi up` runs.
RESTART_BACKOFF = Backoff(base_s=0.5, cap_s=30.0)


@dataclass(frozen=True)
class RestartPolicy:
    backoff: Backoff = RESTART_BACKOFF
    # A child that ran this long before it died is not in a crash loop: its next crash is the first.
    stable_after_s: float = 60.0

    def after_crash(self, crashes_in_a_row: int, started_at: float) -> tuple[int, float]:
        """The crashes in a row counting this one, and how long to wait before the restart."""
        crashes = 1 if time.monotonic() - started_at >= self.stable_after_s else crashes_in_a_row + 1
        return crashes, self.backoff.delay(crashes)


@dataclass
class ChildSpec:
    name: str
    argv: list[str]
    # The child's whole environment (pagi_cli.child_env cuts it down to what the child reads).
    env: dict[str, str] = field(default_factory=dict)


class Child:
    def __init__(
        self,
        spec: ChildSpec,
        name_width: int,
        policy: RestartPolicy = RestartPolicy(),
        on_change: Callable[[Child], None] | None = None,
    ) -> None:
        self.spec = spec
        self.policy = policy
        self.ready = asyncio.Event()
        self.proc: asyncio.subprocess.Process | None = None
        self.state: ChildState = "starting"
        self.crashes_in_a_row = 0
        self.restarts = 0
        self.last_exit_code: int | None = None
        self.restart_delay_s: float | None = None
        self._on_change = on_change
        self._label = f"{spec.name:<{name_width}} | "
        self._recent: collections.deque[str] = collections.deque(maxlen=RECENT_LINES)
        self._started_at = 0.0
        self._stopping = False
        self._watcher: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def report(self) -> ChildReport:
        return ChildReport(
            state=self.state,
            pid=self.pid if self.state != "restarting" else None,
            last_exit_code=self.last_exit_code,
            crashes_in_a_row=self.crashes_in_a_row,
            restarts=self.restarts,
            restart_delay_s=self.restart_delay_s if self.state == "restarting" else None,
        )

    def _changed(self, state: ChildState) -> None:
        self.state = state
        if self._on_change is not None:
            self._on_change(self)

    async def start(self) -> None:
        env = {**self.spec.env, "PYTHONUNBUFFERED": "1"}
        self._recent.clear()
        self._started_at = time.monotonic()
        self.proc = await asyncio.create_subprocess_exec(
            *self.spec.argv,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            preexec_fn=parent_death_signal,
            # Its own process group: a Ctrl-C in the terminal reaches `pagi up` only, which then
            # stops the children in order.
            start_new_session=True,
        )
        self._changed("starting")
        self._watcher = asyncio.create_task(self._watch(self.proc))

    async def _watch(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            self._recent.append(line)
            if READY_LINE in line and not self.ready.is_set():
                self.ready.set()
                self._changed("running")
            sys.stdout.write(self._label + line + "\n")
        code = await proc.wait()
        if self._stopping:
            return
        self.ready.clear()
        self._crashed(code)
        while not self._stopping:
            assert self.restart_delay_s is not None
            await asyncio.sleep(self.restart_delay_s)
            if self._stopping:
                return
            self.restarts += 1
            try:
                await self.start()
                return
            except OSError as exc:  # no process at all (EAGAIN, ENOMEM): a crash like any other
                print(f"pagi: {self.spec.name} could not be started: {exc}", flush=True)
                self._crashed(None)

    def _crashed(self, code: int | None) -> None:
        self.crashes_in_a_row, self.restart_delay_s = self.policy.after_crash(self.crashes_in_a_row, self._started_at)
        self.last_exit_code = code
        name, delay, n = self.spec.name, self.restart_delay_s, self.crashes_in_a_row
        how = f"exited with code {code}" if code is not None else "did not start"
        print(f"pagi: {name} {how}; restarting in {delay:.1f}s (crash {n} in a row)", flush=True)
        if n == 1:
            last = "\n  ".join(self._recent) or "(nothing)"
            print(f"pagi: {name}'s last output before it exited:\n  {last}", flush=True)
        elif delay >= self.policy.backoff.cap_s and self.policy.backoff.delay(n - 1) < self.policy.backoff.cap_s:
            print(
                f"pagi: {name} keeps crashing ({n} times in a row); restarting it every {delay:.0f}s, "
                "the rest of the stack keeps serving (see /health)",
                flush=True,
            )
        self._changed("restarting")

    async def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM (the service drains its in-flight work), then SIGKILL after the timeout."""
        self._stopping = True
        if self.state == "restarting" and self._watcher is not None:
            self._watcher.cancel()  # it is only waiting out the restart delay
        proc = self.proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), timeout_s)
            except TimeoutError:
                print(f"pagi: {self.spec.name} did not stop in {timeout_s:.0f}s; killing it", flush=True)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        if self._watcher is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._watcher, 5)
