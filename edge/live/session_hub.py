"""Session feeds: one tail of `*.*.<session>` per session this edge has clients for.

Each edge subscribes only for its own clients, so several edges behind a load balancer work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bus_schemas import Envelope
from bus_schemas.streams import EVENTS
from bus_schemas.subjects import one_session
from pagi.bus import Bus

from .feeds import FeedHub, FeedItem, Listener

EventListener = Callable[[Envelope[Any]], None]


class SessionHub:
    def __init__(self, bus: Bus) -> None:
        self._feeds = FeedHub(bus, EVENTS.name, one_session, lambda event: event.session_id)
        self._adapters: dict[tuple[str, EventListener], Listener] = {}

    async def follow(self, session_id: str, listener: Listener) -> None:
        """`listener` gets every event of the session published from now on, with its stream sequence."""
        await self._feeds.join(session_id, listener)

    async def unfollow(self, session_id: str, listener: Listener) -> None:
        await self._feeds.leave(session_id, listener)

    async def join(self, session_id: str, listener: EventListener) -> None:
        """For callers that want only the events (e.g. `POST /v1/chat` waiting for its answer)."""

        def adapter(item: FeedItem) -> None:
            listener(item.event)

        self._adapters[(session_id, listener)] = adapter
        await self._feeds.join(session_id, adapter)

    async def leave(self, session_id: str, listener: EventListener) -> None:
        adapter = self._adapters.pop((session_id, listener), None)
        if adapter is not None:
            await self._feeds.leave(session_id, adapter)

    async def close(self) -> None:
        await self._feeds.close()

    @property
    def sessions(self) -> int:
        return self._feeds.keys
