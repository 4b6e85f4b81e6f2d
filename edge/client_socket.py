"""One browser's WebSocket: a bounded outgoing queue drained by its own writer task, so a slow
client is disconnected (it can reconnect and resume) instead of slowing anyone else."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import WSCloseCode, web
from pydantic import BaseModel

log = logging.getLogger("edge.socket")

TOO_SLOW = "client too slow: outgoing queue full"


class ClientSocket:
    def __init__(self, ws: web.WebSocketResponse, user_id: str, queue_size: int) -> None:
        self.ws = ws
        self.user_id = user_id
        self.sessions: set[str] = set()
        self._queue: asyncio.Queue[str] = asyncio.Queue(maxsize=queue_size)
        self._writer: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write())

    def send(self, frame: BaseModel) -> None:
        """Queue a frame; never blocks. A full queue closes the socket with a clear reason."""
        if self.ws.closed:
            return
        try:
            self._queue.put_nowait(frame.model_dump_json())
        except asyncio.QueueFull:
            log.warning("disconnecting %s: %s", self.user_id, TOO_SLOW)
            asyncio.get_running_loop().create_task(self.close(WSCloseCode.TRY_AGAIN_LATER, TOO_SLOW))

    async def _write(self) -> None:
        while True:
            frame = await self._queue.get()
            try:
                await self.ws.send_str(frame)
            except (ConnectionResetError, RuntimeError):
                return

    async def close(self, code: int = WSCloseCode.GOING_AWAY, reason: str = "server shutting down") -> None:
        await self.ws.close(code=code, message=reason.encode())
        await self.stop_writer()

    async def stop_writer(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
