"""edge.feeds.FeedHub: one tail per edge, its filters following what the edge's clients follow."""

from __future__ import annotations

import asyncio

import pytest

from bus_schemas.streams import EVENTS
from bus_schemas.subjects import one_session
from edge.live import feeds
from edge.live.feeds import FeedHub, FeedItem
from pagi.bus import Bus

from .events import log_line


class Got:
    def __init__(self) -> None:
        self.items: list[FeedItem] = []
        self.changed = asyncio.Event()

    def __call__(self, item: FeedItem) -> None:
        self.items.append(item)
        self.changed.set()

    async def until(self, count: int, timeout: float = 5.0) -> list[int]:
        async with asyncio.timeout(timeout):
            while len(self.items) < count:
                self.changed.clear()
                await self.changed.wait()
        return [item.seq for item in self.items]


async def test_sessions_share_one_consumer_and_each_gets_its_own(bus: Bus, session_id: str) -> None:
    hub = FeedHub(bus, EVENTS.name, one_session, lambda event: event.session_id)
    first, second = Got(), Got()
    try:
        await asyncio.gather(hub.join(f"{session_id}-a", first), hub.join(f"{session_id}-b", second))
        a = await log_line(bus, f"{session_id}-a", "to a")
        b = await log_line(bus, f"{session_id}-b", "to b")
        assert await first.until(1) == [a] and await second.until(1) == [b]
        ours = [i for i in await bus.js.consumers_info(EVENTS.name) if i.config.deliver_subject]
        assert len(ours) == 1
    finally:
        await hub.close()


async def test_joining_while_a_narrowing_is_under_way_is_not_lost(
    bus: Bus, session_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session left and re-joined while the filters are being narrowed must stay covered."""
    # No later lazy narrowing may repair a mistake here: only the join itself may cover the session.
    monkeypatch.setattr(feeds, "NARROW_AFTER_S", 60.0)
    hub = FeedHub(bus, EVENTS.name, one_session, lambda event: event.session_id)
    keep, rejoin = Got(), Got()
    try:
        await hub.join(f"{session_id}-keep", keep)
        await hub.join(session_id, rejoin)
        await hub.leave(session_id, rejoin)
        narrowing = asyncio.create_task(hub._sync())
        await asyncio.sleep(0)  # the narrowing has taken the lock and is talking to the server
        await hub.join(session_id, rejoin)
        await narrowing
        published = await log_line(bus, session_id, "after the re-join")
        assert await rejoin.until(1) == [published]
    finally:
        await hub.close()
