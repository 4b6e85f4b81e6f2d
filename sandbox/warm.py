"""Sandboxes set up ahead of time: the next run in a workspace skips bubblewrap's set-up.

A warm slot is a fully built sandbox (namespaces, mounts, rlimits, uid) whose pid 1 is a bash
waiting to read the real command as NUL-separated arguments from a pipe; it then `exec`s it, so the
tool is pid 1 exactly as in a cold start. Slots are kept per workspace, a few at most, and expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .bwrap import InfoPipe
from .process import kill_group, running

BASH = "/bin/bash"
# Arguments bigger than this go the cold way: a pipe write that could block the event loop is not worth it.
MAX_WARM_ARGV_BYTES = 32 * 1024


def launcher(fd: int) -> list[str]:
    return [
        BASH,
        "--noprofile",
        "--norc",
        "-c",
        f'mapfile -d "" -t argv <&{fd}; exec {fd}<&-; exec "${{argv[@]}}"',
    ]


def warm_payload(argv: Sequence[str]) -> bytes | None:
    """The command as the launcher reads it, or None when it cannot go this way (NUL, too big)."""
    if any("\x00" in a for a in argv):
        return None
    data = b"".join(a.encode("utf-8", "surrogateescape") + b"\x00" for a in argv)
    return data if len(data) <= MAX_WARM_ARGV_BYTES else None


@dataclass
class WarmSlot:
    proc: asyncio.subprocess.Process
    feed: int
    info: InfoPipe
    # The host uid it runs as: a slot serves only a run that would get the same.
    user: tuple[int, int] | None = None
    created: float = field(default_factory=time.monotonic)
    timer: asyncio.TimerHandle | None = None

    def alive(self) -> bool:
        return self.proc.returncode is None and running(self.proc.pid)

    def release(self, payload: bytes) -> None:
        feed, self.feed = self.feed, -1
        try:
            os.write(feed, payload)
        finally:
            os.close(feed)

    def discard(self) -> asyncio.Task[None]:
        if self.timer is not None:
            self.timer.cancel()
        # An empty command ends the launcher by itself, so bwrap reaps it: killing bwrap instead would
        # orphan the sandbox's pid 1 to the host's init as a zombie until that gets round to it.
        if self.feed >= 0:
            with contextlib.suppress(OSError):
                os.close(self.feed)
            self.feed = -1
        self.info.close()
        return asyncio.get_running_loop().create_task(_reap(self.proc))


async def _reap(proc: asyncio.subprocess.Process) -> None:
    try:
        await asyncio.wait_for(proc.communicate(), timeout=2)
    except TimeoutError:
        kill_group(proc.pid)
        with contextlib.suppress(asyncio.TimeoutError, ProcessLookupError):
            await asyncio.wait_for(proc.communicate(), timeout=3)


class WarmPool:
    def __init__(self, capacity: int, max_age_s: float) -> None:
        self.capacity = capacity
        self.max_age_s = max_age_s
        self.slots: dict[Path, WarmSlot] = {}
        self._pending: dict[Path, asyncio.Task[None]] = {}
        self.hits = 0
        self.misses = 0
        self._bash = os.path.exists(BASH)
        self._reaping: set[asyncio.Task[None]] = set()

    @property
    def enabled(self) -> bool:
        return self.capacity > 0 and self._bash

    def take(self, key: Path, user: tuple[int, int] | None = None) -> WarmSlot | None:
        slot = self.slots.pop(key, None)
        if slot is not None and slot.alive() and slot.feed >= 0 and slot.user == user:
            if slot.timer is not None:
                slot.timer.cancel()
            self.hits += 1
            return slot
        if slot is not None:
            self._discard(slot)
        self.misses += 1
        return None

    def prepare(self, key: Path, start: Callable[[], Awaitable[WarmSlot]]) -> None:
        if not self.enabled or key in self.slots or key in self._pending:
            return
        task = asyncio.get_running_loop().create_task(self._fill(key, start))
        self._pending[key] = task
        task.add_done_callback(lambda _: self._pending.pop(key, None))

    async def _fill(self, key: Path, start: Callable[[], Awaitable[WarmSlot]]) -> None:
        try:
            slot = await start()
        except (OSError, ValueError):
            return  # no warm slot this time; the next run starts cold and says nothing is wrong
        if self.capacity == 0:  # closed meanwhile
            self._discard(slot)
            return
        while len(self.slots) >= self.capacity:
            oldest = next(iter(self.slots))
            self._discard(self.slots.pop(oldest))
        slot.timer = asyncio.get_running_loop().call_later(self.max_age_s, self._expire, key, slot)
        self.slots[key] = slot

    def _expire(self, key: Path, slot: WarmSlot) -> None:
        if self.slots.get(key) is slot:
            del self.slots[key]
            self._discard(slot)

    async def settle(self) -> None:
        """Wait until the slots being prepared are ready (benchmarks measure with the machine quiet)."""
        if self._pending:
            await asyncio.gather(*self._pending.values(), return_exceptions=True)

    async def close(self) -> None:
        # Let slots being started finish starting: a spawn cancelled half-way leaves a process behind.
        self.capacity = 0
        await self.settle()
        for slot in self.slots.values():
            self._discard(slot)
        self.slots.clear()
        if self._reaping:
            await asyncio.wait(set(self._reaping), timeout=5)

    def drop(self, slot: WarmSlot) -> None:
        """Let go of a slot taken but not used."""
        self._discard(slot)

    def _discard(self, slot: WarmSlot) -> None:
        task = slot.discard()
        self._reaping.add(task)
        task.add_done_callback(self._reaping.discard)
