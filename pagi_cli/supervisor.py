"""Child processes of `pagi up`: start, prefix their output, restart on crash with backoff, stop in order."""

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

from pagi.backoff import Backoff
from pagi.service import READY_LINE

from .process import parent_death_signal

MAX_CRASHES = 5
CRASH_WINDOW_S = 60.0
# The n-th crash within the window waits 0.5 s * 2**(n-1) before the restart, at most 10 s.
RESTART_BACKOFF = Backoff(base_s=0.5, cap_s=10.0)


@dataclass
class ChildSpec:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


class Child:
    def __init__(self, spec: ChildSpec, on_give_up: Callable[[str], None], name_width: int) -> None:
        self.spec = spec
        self.ready = asyncio.Event()
        self.proc: asyncio.subprocess.Process | None = None
        self._on_give_up = on_give_up
        self._label = f"{spec.name:<{name_width}} | "
        self._crashes: collections.deque[float] = collections.deque()
        self._recent: collections.deque[str] = collections.deque(maxlen=20)
        self._stopping = False
        self._watcher: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    async def start(self) -> None:
        env = {**os.environ, **self.spec.env, "PYTHONUNBUFFERED": "1"}
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
        self._watcher = asyncio.create_task(self._watch(self.proc))

    async def _watch(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            self._recent.append(line)
            if READY_LINE in line:
                self.ready.set()
            sys.stdout.write(self._label + line + "\n")
        code = await proc.wait()
        if self._stopping:
            return
        self.ready.clear()
        now = time.monotonic()
        self._crashes.append(now)
        while self._crashes and now - self._crashes[0] > CRASH_WINDOW_S:
            self._crashes.popleft()
        if len(self._crashes) >= MAX_CRASHES:
            last = "\n  ".join(self._recent)
            self._on_give_up(
                f"{self.spec.name} crashed {len(self._crashes)} times in {CRASH_WINDOW_S:.0f}s "
                f"(last exit code {code}); its last output:\n  {last}"
            )
            return
        delay = RESTART_BACKOFF.delay(len(self._crashes))
        print(f"pagi: {self.spec.name} exited with code {code}; restarting in {delay:.1f}s", flush=True)
        await asyncio.sleep(delay)
        if not self._stopping:
            await self.start()

    async def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM (the service drains its in-flight work), then SIGKILL after the timeout."""
        self._stopping = True
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
