"""The MCP server door: the edge serves MCP over Streamable HTTP at `/mcp` (tools: edge/doors/mcp_tools.py,
resources: edge/doors/mcp_resources.py).

How it is served: the mcp SDK's low-level `Server` and its `StreamableHTTPSessionManager` (sessions,
SSE, resumption, both the 2025 handshake wire and the 2026 per-request one), driven from a plain
aiohttp route through `edge/doors/asgi.py`. So every front-door check (Host allow-list, a key, the
per-user rate limit, body size, JSON writes, the route rule) runs before the SDK sees a byte, and the
SDK still owns the protocol.

Security (the Streamable HTTP transport's notes):
- `Origin` is checked on every method, GET included (a page on another origin is refused 403: DNS
  rebinding), by the edge's own rule (`edge.front.origins.may_write`: the edge's pages and
  `PAGI_ALLOWED_ORIGINS`); the SDK's own Host/Origin lists are off, since the edge's apply.
- An MCP session is bound to the user who opened it: the SDK compares `scope["user"]` on every later
  request and answers a session id used with another user's key as unknown (404).
- Sessions are bounded (`MAX_SESSIONS`, idle ones closed after `SESSION_IDLE_S`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from typing import Any, Final

from aiohttp import web
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.lowlevel.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import PARSE_ERROR

from bus_schemas.safe_json import PayloadError

from ..appkeys import AUTH_KEYS, SETTINGS
from ..front import origins
from ..front.auth import authenticated_user, caller
from .asgi import serve_asgi
from .errors import register_format
from .jsonrpc_body import BodyTooLarge, check_depth_only, read_bounded
from .mcp_context import scope_entries
from .mcp_resources import list_resource_templates, list_resources, read_resource
from .mcp_tools import DOOR, call_tool, list_tools

log = logging.getLogger("edge.doors.mcp")

PATH: Final = "/mcp"
MAX_SESSIONS: Final = 1000
SESSION_IDLE_S: Final = 30 * 60.0
START_TIMEOUT_S: Final = 10.0
STOP_TIMEOUT_S: Final = 5.0
INSTRUCTIONS: Final = (
    "PAGI's digital twins: each tool ask_<twin> sends your message to that twin and returns its answer."
    " Steps that need a human's approval (a tool run, a memory search) wait for it; the progress"
    " notifications say which approval and where to answer it. Resources: your sessions' histories"
    " and the twins' prompts."
)
JSONRPC_SERVER_ERROR: Final = -32000


def jsonrpc_refusal(
    status: int, message: str, headers: dict[str, str] | None = None, *, code: int = JSONRPC_SERVER_ERROR
) -> web.Response:
    """A refusal before any MCP message was read, in JSON-RPC's shape (no request id is known yet).
    A 401 names the scheme to use (`WWW-Authenticate: Bearer`), as MCP's authorization rules ask."""
    body = {"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}
    headers = dict(headers or {})
    if status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="pagi"')
    return web.json_response(body, status=status, headers=headers or None)


def _refusal_format(request: web.Request, status: int, message: str) -> web.StreamResponse:
    return jsonrpc_refusal(status, message)


class McpDoor:
    """One per edge app: the SDK server, its session manager, and the task that runs the manager."""

    def __init__(self, app: web.Application) -> None:
        self.stopping = False
        self.server: Server[Any] = Server(
            "pagi",
            title="PAGI twins",
            instructions=INSTRUCTIONS,
            on_list_tools=list_tools,
            on_call_tool=functools.partial(call_tool, stopping=self.is_stopping),
            on_list_resources=list_resources,
            on_list_resource_templates=list_resource_templates,
            on_read_resource=read_resource,
        )
        self.manager = StreamableHTTPSessionManager(
            self.server,
            security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
            session_idle_timeout=SESSION_IDLE_S,
            max_request_body_size=app[SETTINGS].max_request_bytes,
            max_sessions=MAX_SESSIONS,
        )
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def is_stopping(self) -> bool:
        return self.stopping

    async def _run_manager(self, started: asyncio.Event) -> None:
        # The manager's anyio task group must be entered and left in one task; aiohttp's start-up and
        # clean-up hooks may run in different ones.
        async with self.manager.run():
            started.set()
            await self._stop.wait()

    async def lifecycle(self, app: web.Application) -> AsyncIterator[None]:
        started = asyncio.Event()
        self._task = asyncio.create_task(self._run_manager(started), name="mcp-session-manager")
        await asyncio.wait({self._task, asyncio.ensure_future(started.wait())}, timeout=START_TIMEOUT_S,
                           return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        if self._task.done():
            self._task.result()  # its exception, if it failed to start
        if not started.is_set():
            raise RuntimeError(f"the MCP session manager did not start within {START_TIMEOUT_S}s")
        yield
        await self.stop()

    async def on_shutdown(self, app: web.Application) -> None:
        """Ends open MCP streams before aiohttp waits for handlers; their jobs go on."""
        await self.stop()

    async def stop(self) -> None:
        self.stopping = True
        self._stop.set()
        if self._task is not None and not self._task.done():
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._task), STOP_TIMEOUT_S)
            if not self._task.done():
                self._task.cancel()

    async def endpoint(self, request: web.Request) -> web.StreamResponse:
        if not origins.may_write(request):
            return jsonrpc_refusal(403, origins.refusal(request, "use the MCP endpoint"))
        if request.app[AUTH_KEYS].enabled and authenticated_user(request) is None:
            # GET /mcp is a safe method outside the API prefixes, which the front door serves without
            # a key (the web UI's rule); the MCP endpoint never is.
            return jsonrpc_refusal(401, "missing or wrong API key: send Authorization: Bearer <key>")
        if self.stopping:
            return jsonrpc_refusal(503, "the edge is stopping; retry")
        extra = scope_entries(request)
        who = caller(request)
        # The SDK binds a session to the identity that opened it; only the id, never the key.
        extra["user"] = AuthenticatedUser(AccessToken(token="", client_id=who.user_id, scopes=[]))
        if request.method != "POST":
            return await serve_asgi(request, self.manager.handle_request, extra=extra)
        try:
            body = await read_bounded(request, request.app[SETTINGS].max_request_bytes)
            check_depth_only(body)  # the SDK's decoder has no depth limit of ours; PAGI's first
        except BodyTooLarge as exc:
            return jsonrpc_refusal(413, str(exc))
        except PayloadError as exc:
            return jsonrpc_refusal(400, str(exc), code=PARSE_ERROR)
        return await serve_asgi(request, self.manager.handle_request, extra=extra, body=body)


def register(app: web.Application) -> None:
    door = McpDoor(app)
    # The front door's refusals on /mcp (a bad key, a rate limit, a body too large) in JSON-RPC's shape.
    register_format(app, DOOR, (PATH,), _refusal_format)
    app.cleanup_ctx.append(door.lifecycle)
    app.on_shutdown.append(door.on_shutdown)
    for method in ("GET", "POST", "DELETE"):
        app.router.add_route(method, PATH, door.endpoint)
    log.debug("%s door at %s", DOOR, PATH)
