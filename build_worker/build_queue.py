"""Build admission: a few builds at once, a few waiting, and an immediate no beyond that."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from pagi.metrics import BUILD_QUEUE_DEPTH


class QueueFull(RuntimeError):
    def __init__(self, running: int, waiting: int) -> None:
        super().__init__(f"build queue is full ({running} running, {waiting} waiting); try again later")


class BuildQueue:
    def __init__(self, max_concurrent: int = 1, max_pending: int = 4) -> None:
        if max_concurrent < 1 or max_pending < 0:
            raise ValueError("max_concurrent must be >= 1 and max_pending >= 0")
        self.max_concurrent = max_concurrent
        self.max_pending = max_pending
        self._slots = asyncio.Semaphore(max_concurrent)
        self.running = 0
        self.waiting = 0

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a build slot; raises QueueFull at once, without waiting, when the queue is full."""
        if self.running + self.waiting >= self.max_concurrent + self.max_pending:
            raise QueueFull(self.running, self.waiting)
        # Up and down rather than set: the gauge is the process's, and a process may hold several queues.
        BUILD_QUEUE_DEPTH.inc()
        try:
            self.waiting += 1
            try:
                await self._slots.acquire()
            finally:
                self.waiting -= 1
            self.running += 1
            try:
                yield
            finally:
                self.running -= 1
                self._slots.release()
        finally:
            BUILD_QUEUE_DEPTH.dec()
