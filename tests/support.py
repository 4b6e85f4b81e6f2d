"""Helpers for tests that wait on events: bounded waits, never fixed sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from bus_schemas import Envelope


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
