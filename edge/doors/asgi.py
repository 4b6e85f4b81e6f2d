"""Serving an ASGI application (the mcp SDK's Streamable HTTP transport; the a2a-sdk's Starlette app may
use it too) from an ordinary aiohttp route: `await serve_asgi(request, asgi_app, extra={...})`.

Why our own bridge rather than `aiohttp-asgi` from PyPI (read before choosing):
- its `ASGIResource` is not a normal route, so the front door, which looks up the matched route's
  canonical path in `edge/front/route_rules.py` (fail closed), could not give it a rule; here the door
  registers plain `/mcp` routes and every front-door check (Host, Origin, key, rate limit, body size)
  runs before the ASGI app sees anything;
- once the body is read its `receive()` answers an empty `http.request` again and again instead of
  waiting for `http.disconnect`; the SDK's SSE responses and its 2026 per-request path call `receive()`
  in a loop to learn when the client went (that is how a client cancels there), so it would spin;
- it cannot hand the ASGI app who the caller is; here `extra` scope entries can (the SDK binds its
  MCP sessions to `scope["user"]`).
What it bridges: one HTTP request (no WebSocket, no lifespan: the door runs the app's lifespan
itself). The client's going away is seen by polling the connection every `DISCONNECT_POLL_S`, since
the edge's runner does not cancel handlers when a client disconnects (aiohttp's default).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any, Final

from aiohttp import web

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DISCONNECT_POLL_S: Final = 0.5
# How long an app may take to wind down once its client went, before it is cancelled.
DISCONNECT_GRACE_S: Final = 5.0
BODY_CHUNK: Final = 64 * 1024
# Hop-by-hop headers are the server's to set (aiohttp frames the body itself).
_HOP_BY_HOP: Final = frozenset({"connection", "keep-alive", "transfer-encoding", "upgrade"})


def _scope(request: web.Request, root_path: str, extra: Mapping[str, Any] | None) -> Scope:
    sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
    server = (str(sockname[0]), int(sockname[1])) if isinstance(sockname, tuple) and len(sockname) >= 2 else None
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": f"{request.version.major}.{request.version.minor}",
        "method": request.method,
        "scheme": request.scheme,
        "path": request.path,
        "raw_path": request.rel_url.raw_path.encode("latin-1"),
        "query_string": request.rel_url.raw_query_string.encode("latin-1"),
        "root_path": root_path,
        "headers": [(name.lower(), value) for name, value in request.raw_headers],
        "client": (request.remote, 0) if request.remote else None,
        "server": server,
        "state": {},
    }
    if extra:
        scope.update(extra)
    return scope


class _Exchange:
    """One request's receive/send pair, writing into an aiohttp StreamResponse."""

    def __init__(self, request: web.Request, body: bytes | None) -> None:
        self.request = request
        self.response: web.StreamResponse | None = None
        self.finished = False
        self._read = body  # a body the door already read (and checked), given to the app whole
        self._body_done = False
        self._gone = asyncio.Event()
        self._start: Message | None = None

    def _connection_gone(self) -> bool:
        transport = self.request.transport
        return transport is None or transport.is_closing()

    async def receive(self) -> Message:
        if self._read is not None and not self._body_done:
            self._body_done = True
            return {"type": "http.request", "body": self._read, "more_body": False}
        if not self._body_done:
            chunk = await self.request.content.read(BODY_CHUNK)
            self._body_done = self.request.content.at_eof()
            return {"type": "http.request", "body": chunk, "more_body": not self._body_done}
        # After the body only the disconnect is news; the wait is bounded per poll.
        # asyncio.wait, not wait_for: a cancellation from the app's own (anyio) scopes must reach it unchanged.
        waiter = asyncio.ensure_future(self._gone.wait())
        try:
            while not waiter.done() and not self._connection_gone():
                await asyncio.wait({waiter}, timeout=DISCONNECT_POLL_S)
        finally:
            waiter.cancel()
        self._gone.set()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        kind = message.get("type")
        if kind == "http.response.start":
            if self._start is not None:
                raise RuntimeError("http.response.start sent twice")
            self._start = message
            return
        if kind != "http.response.body":
            return  # e.g. http.response.trailers, which HTTP/1.1 here does not carry
        if self.finished:
            return
        body = bytes(message.get("body", b""))
        more = bool(message.get("more_body", False))
        try:
            if self.response is None:
                self.response = self._prepare_response(body if not more else None)
                await self.response.prepare(self.request)
            if more:
                if body:
                    await self.response.write(body)
            else:
                await self.response.write_eof(body)
                self.finished = True
        except (ConnectionResetError, ConnectionError):
            self._gone.set()
            raise

    def _prepare_response(self, whole_body: bytes | None) -> web.StreamResponse:
        if self._start is None:
            raise RuntimeError("http.response.body before http.response.start")
        response = web.StreamResponse(status=int(self._start["status"]))
        for raw_name, raw_value in self._start.get("headers", ()):
            name = bytes(raw_name).decode("latin-1")
            if name.lower() in _HOP_BY_HOP:
                continue
            response.headers.add(name, bytes(raw_value).decode("latin-1"))
        if whole_body is not None:
            response.content_length = len(whole_body)
        elif "content-length" not in {k.lower() for k in response.headers}:
            response.enable_chunked_encoding()
        return response

    def close(self) -> None:
        self._gone.set()


async def _run(app: ASGIApp, scope: Scope, exchange: _Exchange) -> None:
    try:
        await app(scope, exchange.receive, exchange.send)
    finally:
        exchange.close()


async def serve_asgi(
    request: web.Request,
    app: ASGIApp,
    *,
    root_path: str = "",
    extra: Mapping[str, Any] | None = None,
    body: bytes | None = None,
) -> web.StreamResponse:
    """Run `app` for this request and return the (already sent) response. `extra` entries are added to
    the ASGI scope (who the caller is); `body` is the request's body when the door has read it already
    (bounded and checked), else the app reads it from the request. An app that answers nothing gets a 500."""
    exchange = _Exchange(request, body)
    # The app runs in a task of its own: when aiohttp cancels the handler because the client went (a
    # client that has its answer may close before the last chunk), the app is told `http.disconnect`,
    # as an ASGI server does, instead of being cancelled midway (the SDK would then drop the session
    # it had just opened).
    served = asyncio.create_task(_run(app, _scope(request, root_path, extra), exchange))
    try:
        await asyncio.shield(served)
    except asyncio.CancelledError:
        exchange.close()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(served), DISCONNECT_GRACE_S)
        if not served.done():
            served.cancel()
        raise
    if exchange.response is None:
        if exchange._start is not None:  # a start with no body message: an empty answer
            await exchange.send({"type": "http.response.body", "body": b"", "more_body": False})
        else:
            raise web.HTTPInternalServerError(
                text='{"error": "the endpoint gave no answer"}', content_type="application/json"
            )
    assert exchange.response is not None
    if not exchange.finished:
        with contextlib.suppress(ConnectionError):
            await exchange.response.write_eof()
    return exchange.response
