"""One connection following one feed from a stream sequence: what it missed, in order, then live.

The switch is gap-free and duplicate-free because the follower joins the live feed *before* it reads
the history: events arriving live meanwhile are held (bounded), the history is read up to the
stream's end, and then the held events are released. Everything is filtered by `seq > last_seq`,
and stream sequences only grow, so an event seen in both is sent once and none falls between.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Callable
from typing import Generic

from .feeds import FeedItem
from .outbox import TOO_SLOW, F, Outbox


class Follower(Generic[F]):
    def __init__(
        self,
        outbox: Outbox[F],
        render: Callable[[FeedItem], F | None],
        accept: Callable[[FeedItem], bool] | None = None,
        after_seq: int = 0,
        replaying: bool = False,
    ) -> None:
        self._outbox = outbox
        self._render = render
        self._accept = accept
        # The stream sequence of the last event passed on (sent or filtered out).
        self.last_seq = after_seq
        # Live events held while the history is read; None once live.
        self._held: list[FeedItem] | None = [] if replaying else None

    def on_live(self, item: FeedItem) -> None:
        """The feed's listener: never blocks."""
        if self._held is None:
            self._pass(item)
        elif len(self._held) < self._outbox.size:
            self._held.append(item)
        else:
            self._outbox.end(TOO_SLOW)

    async def replay(self, history: AsyncGenerator[FeedItem, None], put_timeout_s: float) -> int:
        """Send the history (waiting for room in the outbox), then go live. Returns how many were sent."""
        sent = 0
        async with contextlib.aclosing(history):
            async for item in history:
                if item.seq <= self.last_seq:
                    continue
                self.last_seq = item.seq
                frame = self._render(item) if self._accept is None or self._accept(item) else None
                if frame is not None:
                    if not await self._outbox.put(frame, put_timeout_s):
                        return sent
                    sent += 1
        self.go_live()
        return sent

    def go_live(self) -> None:
        held, self._held = self._held or [], None
        for item in held:
            self._pass(item)

    def _pass(self, item: FeedItem) -> None:
        if item.seq <= self.last_seq:
            return
        self.last_seq = item.seq
        if self._accept is not None and not self._accept(item):
            return
        frame = self._render(item)
        if frame is not None:
            self._outbox.offer(frame)
