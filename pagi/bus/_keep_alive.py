"""Keeping messages that are still being handled from being redelivered: one ticker per consumer
says `in_progress` for every message handled for a third of the ack wait (a task and a timer per
message cost more than the rest of the consume loop)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

from nats.aio.msg import Msg

from ._errors import TRANSIENT_ERRORS


class KeepAlive:
    def __init__(self, ack_wait_s: float) -> None:
        self._every_s = ack_wait_s / 3
        # Each message being handled, with when it was last said to be in progress.
        self._working: dict[int, tuple[Msg, float]] = {}
        self._ticker: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def working(self, msg: Msg) -> Iterator[None]:
        """While the block runs, `msg` is kept alive (the ticker starts with the first message)."""
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._tick())
        self._working[id(msg)] = (msg, time.monotonic())
        try:
            yield
        finally:
            del self._working[id(msg)]

    def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self._every_s / 2)
            now = time.monotonic()
            for key, (msg, since) in list(self._working.items()):
                if now - since >= self._every_s and key in self._working:
                    self._working[key] = (msg, now)
                    with contextlib.suppress(*TRANSIENT_ERRORS):
                        await msg.in_progress()
