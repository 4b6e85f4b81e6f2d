"""An SSE response driven by an outbox, and the request checks the SSE endpoints share."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiohttp import web
from aiohttp_sse import EventSourceResponse

from bus_schemas.web import ErrorResponse, StreamClosing

from ..front.auth import authenticated_user
from .frames import sse_bytes
from .outbox import CLIENT_GONE, Outbox

CLOSING_WRITE_TIMEOUT_S = 1.0
UNAVAILABLE = "the event store is not reachable; reconnect to retry"
MAX_SEQ_DIGITS = 19


class BadStreamRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def response(self) -> web.Response:
        return web.json_response(ErrorResponse(error=self.message).model_dump(), status=self.status)


def resume_point(request: web.Request) -> int | None:
    """The stream sequence a client last saw: the `Last-Event-ID` header (EventSource sends it when it
    reconnects), else the `after` query parameter (a page that kept it); None when neither is given."""
    for where, raw in (("Last-Event-ID", request.headers.get("Last-Event-ID")), ("after", request.query.get("after"))):
        if raw is None or raw == "":
            continue
        if not (raw.isascii() and raw.isdigit()) or len(raw) > MAX_SEQ_DIGITS:
            raise BadStreamRequest(400, f"{where} must be the stream sequence of the last event seen (a whole number)")
        return int(raw)
    return None


class SseStream:
    """Prepare the response, write what the outbox holds, and end with a `closing` event saying why."""

    def __init__(self, request: web.Request, queue_size: int, ping_s: float) -> None:
        self.request = request
        self.response = EventSourceResponse(ping_interval=ping_s)
        self.outbox: Outbox[bytes] = Outbox(self.response.write, queue_size, join=b"".join, write_now=self._write_now)
        self._chunked = False
        self._transport: asyncio.Transport | None = None

    async def open(self) -> None:
        await self.response.prepare(self.request)
        # Kept: the request looks it up through its protocol on every access, once per message.
        self._transport = self.request.transport
        headers = self.response.headers
        # The on-the-spot write frames the chunk itself, as aiohttp's writer would; any other body
        # encoding (HTTP/1.0, compression) goes through aiohttp's writer only.
        self._chunked = headers.get("Transfer-Encoding") == "chunked" and "Content-Encoding" not in headers
        self.outbox.start()

    def _write_now(self, data: bytes) -> bool:
        """One SSE message as one HTTP chunk, straight to the socket, if nothing waits in its buffer
        (else the outbox's writer writes it, waiting for the client to read)."""
        transport = self._transport
        if not self._chunked or transport is None or transport.get_write_buffer_size():
            return False
        if transport.is_closing():
            raise ConnectionResetError("the client went away")
        transport.write(b"%x\r\n%b\r\n" % (len(data), data))
        return True

    async def run(self) -> None:
        """Until the outbox ends (too slow, shutdown) or the client goes (the keep-alive ping fails)."""
        client_gone = asyncio.ensure_future(self.response.wait())
        outbox_done = asyncio.ensure_future(self.outbox.finished.wait())
        try:
            await asyncio.wait((client_gone, outbox_done), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (client_gone, outbox_done):
                task.cancel()

    async def close(self) -> None:
        reason = self.outbox.close_reason
        await self.outbox.stop()
        if reason not in (None, CLIENT_GONE):
            closing = sse_bytes(StreamClosing(reason=reason).model_dump_json(), event="closing")
            try:
                async with asyncio.timeout(CLOSING_WRITE_TIMEOUT_S):
                    await self.response.write(closing)
            except TimeoutError:
                # A client that reads nothing would hold the connection open: drop it.
                if self.request.transport is not None:
                    self.request.transport.abort()
            except (ConnectionError, RuntimeError):
                pass
        if self.response.prepared:
            with contextlib.suppress(RuntimeError):
                self.response.stop_streaming()
            with contextlib.suppress(Exception):
                await self.response.wait()


def claimed_user(request: web.Request) -> str | None:
    """The API key's user (edge/front/security.py refuses a `?user=` naming another); in development
    mode who the client says (`?user=` or `X-User-Id`), or None: nobody named, the one person at the
    machine, as every chat door treats them (`edge.chat_in.session_caller`)."""
    user: Any = authenticated_user(request) or request.query.get("user") or request.headers.get("X-User-Id")
    if user and len(user) > 128:
        raise BadStreamRequest(400, "user id is longer than 128 characters")
    return str(user) if user else None
