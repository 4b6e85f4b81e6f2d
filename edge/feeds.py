"""Live, sequenced feeds of the bus, one per key (a session, or all telemetry) that this edge has
clients for, fanned out to those clients' listeners.

Each feed is a JetStream tail, so every item carries its stream sequence (core subscriptions have
none). Each edge tails only what its own clients follow, so several edges behind a load balancer
work side by side. Listeners must not block: they offer the item to their own bounded outbox.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bus_schemas import Envelope
from pagi.bus import Bus, Tail

log = logging.getLogger("edge.feeds")

T = TypeVar("T")


@dataclass(eq=False)
class FeedItem:
    """One event and its stream sequence; renderings are made once and shared by every client."""

    seq: int
    event: Envelope[Any]
    _renderings: dict[str, Any] = field(default_factory=dict)

    def rendered(self, name: str, render: Callable[[FeedItem], T]) -> T:
        if name not in self._renderings:
            self._renderings[name] = render(self)
        result: T = self._renderings[name]
        return result


Listener = Callable[[FeedItem], None]


class Feed:
    def __init__(self, bus: Bus, stream: str, subject: str) -> None:
        self.listeners: set[Listener] = set()
        self._tail = Tail(bus, stream, subject, self._deliver)
        self.started: asyncio.Task[None] = asyncio.create_task(self._tail.start("new"))

    async def _deliver(self, seq: int, event: Envelope[Any]) -> None:
        item = FeedItem(seq, event)
        for listener in list(self.listeners):
            try:
                listener(item)
            except Exception:
                # One broken listener must not starve the others.
                log.exception("feed listener failed")

    async def stop(self) -> None:
        try:
            await self.started
        except Exception:
            return
        await self._tail.stop()


class FeedHub:
    """Feeds by key: created by the first listener of a key, stopped when its last one leaves."""

    def __init__(self, bus: Bus, stream: str, subject_of: Callable[[str], str]) -> None:
        self._bus = bus
        self._stream = stream
        self._subject_of = subject_of
        self._feeds: dict[str, Feed] = {}

    async def join(self, key: str, listener: Listener) -> None:
        """Returns once the feed is live on the server: anything published afterwards reaches `listener`."""
        feed = self._feeds.get(key)
        if feed is None:
            feed = Feed(self._bus, self._stream, self._subject_of(key))
            self._feeds[key] = feed
        feed.listeners.add(listener)
        try:
            await asyncio.shield(feed.started)
        except Exception:
            feed.listeners.discard(listener)
            if self._feeds.get(key) is feed:
                del self._feeds[key]
            raise

    async def leave(self, key: str, listener: Listener) -> None:
        feed = self._feeds.get(key)
        if feed is None:
            return
        feed.listeners.discard(listener)
        if not feed.listeners:
            del self._feeds[key]
            await feed.stop()

    async def close(self) -> None:
        feeds, self._feeds = list(self._feeds.values()), {}
        for feed in feeds:
            await feed.stop()

    @property
    def keys(self) -> int:
        return len(self._feeds)
