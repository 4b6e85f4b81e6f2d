"""Helpers for tests that wait: bounded waits on the state itself, never fixed sleeps."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Final, TypeVar, overload

from bus_schemas import Envelope, decode
from bus_schemas.streams import EVENTS
from bus_schemas.web import VERBOSE_FRAMES_PROTOCOL
from pagi.bus import Bus

# `ws_connect(..., protocols=VERBOSE)`: the chat WebSocket's verbose frames (every status, `event`
# frames), as PAGI's console asks for them; without it a socket gets the seed's sparse frames.
VERBOSE: Final = (VERBOSE_FRAMES_PROTOCOL,)


class EventCollector:
    """Collects observed events; `wait_for` waits, with a bound, until a predicate holds."""

    def __init__(self) -> None:
        self.events: list[Envelope[Any]] = []
        self._changed = asyncio.Event()

    async def __call__(self, event: Envelope[Any]) -> None:
        self.events.append(event)
        self._changed.set()

    def of_type(self, event_type: str) -> list[Envelope[Any]]:
        return [e for e in self.events if e.type == event_type]

    async def wait_for(self, predicate: Callable[[list[Envelope[Any]]], bool], timeout: float = 10.0) -> None:
        async def until() -> None:
            while not predicate(self.events):
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(until(), timeout)

    async def wait_for_count(
        self, predicate: Callable[[Envelope[Any]], bool], count: int, timeout: float = 10.0
    ) -> list[Envelope[Any]]:
        await self.wait_for(lambda events: sum(1 for e in events if predicate(e)) >= count, timeout)
        return [e for e in self.events if predicate(e)]

    async def wait_count(self, event_type: str, count: int, timeout: float = 10.0) -> list[Envelope[Any]]:
        await self.wait_for(lambda _: len(self.of_type(event_type)) >= count, timeout)
        return self.of_type(event_type)


ObserveFactory = Callable[[str], Awaitable[EventCollector]]

T = TypeVar("T")


@overload
async def eventually(
    probe: Callable[[], Awaitable[T]], timeout: float = 10.0, interval: float = 0.02, what: str | None = None
) -> T: ...
@overload
async def eventually(
    probe: Callable[[], T], timeout: float = 10.0, interval: float = 0.02, what: str | None = None
) -> T: ...
async def eventually(
    probe: Callable[[], Any],
    timeout: float = 10.0,
    interval: float = 0.02,
    what: str | None = None,
) -> Any:
    """Call `probe` (sync or async) until it returns something truthy, and return that; fail after
    `timeout` seconds with what was waited for and the last value or error seen. The one way tests
    wait for a state nothing announces (a file appearing, a record written, a process gone)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = probe()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
            last = value
        except AssertionError as exc:  # a probe may assert, so the failure says what was off
            last = exc
        if time.monotonic() >= deadline:
            raise _not_held(probe, timeout, what, last)
        await asyncio.sleep(interval)


def eventually_sync(
    probe: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.02,
    what: str | None = None,
) -> T:
    """`eventually` for synchronous code (the process stack of tests/stack.py runs in threads)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = probe()
            if value:
                return value
            last = value
        except AssertionError as exc:
            last = exc
        if time.monotonic() >= deadline:
            raise _not_held(probe, timeout, what, last)
        time.sleep(interval)


def _not_held(probe: Callable[[], object], timeout: float, what: str | None, last: object) -> AssertionError:
    name = what or getattr(probe, "__name__", "condition")
    return AssertionError(f"{name} did not hold within {timeout} s (last: {last!r})")


async def receive_until(ws: Any, frame_type: str, timeout: float = 10.0) -> list[dict[str, Any]]:
    """A WebSocket's JSON frames up to and including the first of `frame_type`; each frame must come
    within `timeout` seconds."""
    frames = []
    while True:
        frame = await ws.receive_json(timeout=timeout)
        frames.append(frame)
        if frame["type"] == frame_type:
            return frames


async def dead_lettered(bus: Bus) -> dict[int, str]:
    """Stream position of each dead-lettered message -> the reason recorded."""
    found: dict[int, str] = {}
    async for stored in bus.read_events(EVENTS.name, ["dlq.>"]):
        event = decode(stored.subject, stored.data, stored.headers, fallback_id=None)
        found[event.body.stream_seq] = event.body.reason
    return found


async def run_bounded(
    *argv: str, cwd: Path, timeout: float, env: Mapping[str, str] | None = None, what: str | None = None
) -> str:
    """Run a program to its end within `timeout` seconds (killed past it) and return its output; a
    timeout or a non-zero exit fails the test with what it printed."""
    process = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"{what or argv[0]} did not finish within {timeout}s: {list(argv)}") from None
    assert process.returncode == 0, f"{what or argv[0]} exited {process.returncode}:\n{err.decode()}{out.decode()}"
    return out.decode()
