"""One browser's WebSocket: its outbox (bounded queue + own writer), the sessions it follows, and
closing it with a clear reason when it is too slow or the server stops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiohttp import WSCloseCode, web
from pydantic import BaseModel

from .follower import Follower
from .frames import seed_shows
from .outbox import SHUTTING_DOWN, TOO_SLOW, Outbox

log = logging.getLogger("edge.socket")

CLOSE_TIMEOUT_S = 2.0


class ClientSocket:
    def __init__(
        self, ws: web.WebSocketResponse, user_id: str, queue_size: int, transport: Any = None, verbose: bool = False
    ) -> None:
        self.ws = ws
        self.user_id = user_id
        # Which frame protocol this client asked for (`bus_schemas.web.VERBOSE_FRAMES_PROTOCOL`).
        self.verbose = verbose
        self.outbox: Outbox[str] = Outbox(ws.send_str, queue_size)
        # Session id -> this socket's follower of that session's feed.
        self.follows: dict[str, Follower[str]] = {}
        self._transport = transport
        self._supervisor: asyncio.Task[None] | None = None

    @property
    def sessions(self) -> set[str]:
        return set(self.follows)

    def start(self) -> None:
        self.outbox.start()
        self._supervisor = asyncio.create_task(self._close_when_too_slow())

    def send(self, frame: BaseModel) -> None:
        """Queue one of the edge's own frames, if this client's protocol carries it; never blocks."""
        if not self.ws.closed and (self.verbose or seed_shows(frame)):
            self.outbox.offer(frame.model_dump_json())

    async def _close_when_too_slow(self) -> None:
        await self.outbox.finished.wait()
        if self.outbox.close_reason == TOO_SLOW:
            log.warning("disconnecting %s: %s", self.user_id, TOO_SLOW)
            await self._close_ws(WSCloseCode.TRY_AGAIN_LATER, TOO_SLOW)

    async def close(self, code: int = WSCloseCode.GOING_AWAY, reason: str = SHUTTING_DOWN) -> None:
        self.outbox.end(reason)
        await self._close_ws(code, reason)
        await self.stop_writer()

    async def _close_ws(self, code: int, reason: str) -> None:
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await self.ws.close(code=code, message=reason.encode()[:123])
        except (TimeoutError, ConnectionError, RuntimeError):
            # A client that reads nothing never takes the close frame: drop the connection.
            if self._transport is not None:
                self._transport.abort()

    async def stop_writer(self) -> None:
        await self.outbox.stop()
        if self._supervisor is not None and self._supervisor is not asyncio.current_task():
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
