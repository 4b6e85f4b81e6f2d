"""Who an MCP request comes from, as the door's handlers see it: the edge puts the aiohttp request into
the ASGI scope (edge/doors/mcp_server.py), the SDK hands each handler the Starlette request of the
HTTP POST that carried the message, and this reads it back out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR

from records.access import Caller

from ..chat_in import session_caller
from ..front.auth import caller

REQUEST_SCOPE_KEY: Final = "pagi.request"


@dataclass(frozen=True)
class McpCaller:
    request: web.Request  # the HTTP request carrying this message (its key, its Origin, its trace id)
    reader: Caller  # for reads (`records.access`): in development mode the one person, an admin
    chatter: Caller | None  # who a job runs as (`edge.chat_in.session_caller`); None: nobody named

    @property
    def app(self) -> web.Application:
        return self.request.app


def scope_entries(request: web.Request) -> dict[str, Any]:
    return {REQUEST_SCOPE_KEY: request}


def mcp_caller(ctx: ServerRequestContext[Any, Any]) -> McpCaller:
    """The caller of this message. Every message reaches a handler through the edge's /mcp route, so a
    missing request is a bug, answered as an internal error rather than served as nobody."""
    starlette_request = ctx.request
    scope = getattr(starlette_request, "scope", None)
    request = scope.get(REQUEST_SCOPE_KEY) if isinstance(scope, dict) else None
    if not isinstance(request, web.Request):
        raise MCPError(INTERNAL_ERROR, "this message did not come through the edge's /mcp route")
    return McpCaller(request=request, reader=caller(request), chatter=session_caller(request, None))
