"""One connection's outgoing frames: a bounded queue drained by the connection's own writer task.

Fan-out only ever offers a frame (never waits), so one slow client cannot slow the others: when its
queue is full it is marked too slow and its connection is closed with that reason; it can resume.

A frame offered while nothing is queued or being written, to a transport that takes it at once, is
written on the spot (`write_now`), without the queue and the writer task's wake-up: at 1,000 SSE
clients and 10 telemetry samples a second that wake-up was half of the edge's CPU (bench/fanout.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

F = TypeVar("F", bound=str | bytes)

TOO_SLOW = "client too slow: fell behind by more than the queue bound; reconnect and resume"
CLIENT_GONE = "client disconnected"
SHUTTING_DOWN = "server shutting down"


# At most this many queued frames go out in one write when the writer finds several waiting.
MAX_BATCH = 64


class Outbox(Generic[F]):
    def __init__(
        self,
        write: Callable[[F], Awaitable[object]],
        size: int,
        join: Callable[[list[F]], F] | None = None,
        write_now: Callable[[F], bool] | None = None,
    ) -> None:
        """`join`, where the transport allows it (SSE: bytes on one stream), merges frames that queued
        up into one write: one system call instead of many when a client catches up or replays.
        `write_now` writes a frame without waiting if the transport can take it at once (True), else
        does nothing (False); it is only called when no earlier frame is queued or being written."""
        self._write = write
        self._join = join
        self._write_now = write_now
        # The writer holds a frame it has taken off the queue and not yet finished writing.
        self._writing = False
        self._queue: asyncio.Queue[F] = asyncio.Queue(maxsize=size)
        self.size = size
        # Why the writer stopped (None while it runs).
        self.close_reason: str | None = None
        self.finished = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._writer = asyncio.create_task(self._run())

    @property
    def open(self) -> bool:
        return self.close_reason is None

    def offer(self, frame: F) -> bool:
        """Queue a frame without waiting; a full queue ends the connection as too slow."""
        if self.close_reason is not None:
            return False
        if self._write_now is not None and not self._writing and self._queue.empty() and self._writer is not None:
            try:
                if self._write_now(frame):
                    return True
            except (ConnectionError, RuntimeError):
                self.end(CLIENT_GONE)
                return False
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.end(TOO_SLOW)
            return False
        return True

    async def put(self, frame: F, timeout_s: float) -> bool:
        """Queue a frame, waiting up to `timeout_s` for room (replays, which would overflow any bound)."""
        if self.close_reason is not None:
            return False
        try:
            await asyncio.wait_for(self._queue.put(frame), timeout_s)
        except TimeoutError:
            self.end(TOO_SLOW)
            return False
        return self.close_reason is None

    def end(self, reason: str) -> None:
        """Stop writing; the connection's handler sees `finished` and closes with `reason`."""
        if self.close_reason is None:
            self.close_reason = reason
        if self._writer is not None and self._writer is not asyncio.current_task():
            self._writer.cancel()
        if self._writer is None:
            self.finished.set()

    async def stop(self) -> None:
        self.end(self.close_reason or CLIENT_GONE)
        if self._writer is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer

    async def _run(self) -> None:
        try:
            while True:
                frame = await self._queue.get()
                self._writing = True
                if self._join is not None and not self._queue.empty():
                    frames = [frame]
                    while not self._queue.empty() and len(frames) < MAX_BATCH:
                        frames.append(self._queue.get_nowait())
                    frame = self._join(frames)
                await self._write(frame)
                self._writing = False
        except (ConnectionError, RuntimeError):
            # aiohttp raises these for a peer that went away (RuntimeError: writing after close).
            if self.close_reason is None:
                self.close_reason = CLIENT_GONE
        finally:
            self.finished.set()
