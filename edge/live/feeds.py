"""Live, sequenced feeds of the bus for what this edge's clients follow, fanned out to their listeners.

A feed is a JetStream tail, so every item carries its stream sequence (core subscriptions have
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

NARROW_AFTER_S = 1.0

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


class FeedHub:
    """One tail per hub, filtered to the keys this edge has listeners for, demultiplexed here.

    One consumer per edge, not per session: the server keeps a default limit of consumers per
    stream (1,000 in nats-server 2.15), and creating one per connecting browser would cost a round
    trip each. Joining a new key updates the tail's filters (concurrent joins share one update);
    leaving narrows them a moment later.
    """

    def __init__(
        self, bus: Bus, stream: str, subject_of: Callable[[str], str], key_of: Callable[[Envelope[Any]], str]
    ) -> None:
        self._bus = bus
        self._stream = stream
        self._subject_of = subject_of
        self._key_of = key_of
        self._listeners: dict[str, set[Listener]] = {}
        self._applied: frozenset[str] = frozenset()
        # The key set an update under way is applying: until it lands, only keys in both count.
        self._applying: frozenset[str] | None = None
        self._tail: Tail | None = None
        self._lock = asyncio.Lock()
        self._narrowing: asyncio.Task[None] | None = None

    async def join(self, key: str, listener: Listener) -> None:
        """Returns once the tail covers `key` on the server: anything published afterwards reaches `listener`."""
        self._listeners.setdefault(key, set()).add(listener)
        if key in self._applied and (self._applying is None or key in self._applying):
            return
        try:
            await self._sync()
        except Exception:
            self._forget(key, listener)
            raise

    async def leave(self, key: str, listener: Listener) -> None:
        self._forget(key, listener)
        if key not in self._listeners and self._narrowing is None:
            self._narrowing = asyncio.create_task(self._narrow_soon())

    def _forget(self, key: str, listener: Listener) -> None:
        listeners = self._listeners.get(key)
        if listeners is not None:
            listeners.discard(listener)
            if not listeners:
                del self._listeners[key]

    async def _narrow_soon(self) -> None:
        # Leaving is not urgent (events of keys nobody follows are dropped here): batch it.
        await asyncio.sleep(NARROW_AFTER_S)
        self._narrowing = None
        try:
            await self._sync()
        except Exception as exc:
            log.info("could not narrow the %s tail yet: %s", self._stream, exc)

    async def _sync(self) -> None:
        async with self._lock:
            wanted = frozenset(self._listeners)
            if wanted == self._applied:
                return
            self._applying = wanted
            try:
                await self._apply(wanted)
            finally:
                self._applying = None

    async def _apply(self, wanted: frozenset[str]) -> None:
        if not wanted:
            if self._tail is not None:
                await self._tail.stop()
            self._tail, self._applied = None, wanted
            return
        filters = sorted(self._subject_of(key) for key in wanted)
        if self._tail is None:
            tail = Tail(self._bus, self._stream, filters, self._deliver)
            await tail.start("new")
            self._tail = tail
        else:
            await self._tail.set_filters(filters)
        self._applied = wanted

    async def _deliver(self, seq: int, event: Envelope[Any]) -> None:
        listeners = self._listeners.get(self._key_of(event))
        if not listeners:
            return
        item = FeedItem(seq, event)
        for listener in list(listeners):
            try:
                listener(item)
            except Exception:
                # One broken listener must not starve the others.
                log.exception("feed listener failed")

    async def close(self) -> None:
        if self._narrowing is not None:
            self._narrowing.cancel()
        self._listeners.clear()
        if self._tail is not None:
            await self._tail.stop()
            self._tail = None
        self._applied = frozenset()

    @property
    def keys(self) -> int:
        return len(self._listeners)
