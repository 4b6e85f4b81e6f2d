"""One bus subscription per session this edge has clients for, fanned out to those clients.

Each edge subscribes only for its own clients, so several edges behind a load balancer work.
Listeners must not block: they hand the event to their own bounded queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from bus_schemas import Envelope
from bus_schemas.subjects import one_session
from pagi.bus import Bus, Observer

Listener = Callable[[Envelope[Any]], None]


class SessionHub:
    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._observers: dict[str, Observer] = {}
        self._listeners: dict[str, set[Listener]] = {}
        self._lock = asyncio.Lock()

    async def join(self, session_id: str, listener: Listener) -> None:
        async with self._lock:
            listeners = self._listeners.setdefault(session_id, set())
            listeners.add(listener)
            if session_id not in self._observers:

                async def deliver(event: Envelope[Any]) -> None:
                    for each in list(self._listeners.get(session_id, ())):
                        each(event)

                self._observers[session_id] = await self._bus.observe(one_session(session_id), deliver)
                # The subscription must be live on the server before the caller publishes.
                await self._bus.nc.flush()

    async def leave(self, session_id: str, listener: Listener) -> None:
        async with self._lock:
            listeners = self._listeners.get(session_id)
            if listeners is None:
                return
            listeners.discard(listener)
            if not listeners:
                del self._listeners[session_id]
                observer = self._observers.pop(session_id, None)
                if observer is not None:
                    await observer.stop()

    @property
    def sessions(self) -> int:
        return len(self._observers)
