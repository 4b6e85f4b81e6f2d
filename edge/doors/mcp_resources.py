"""The MCP door's read-only resources: a session's history (`pagi://sessions/{session_id}/history`, the
caller's sessions only, as `GET /v1/sessions/{id}/history`) and a twin's prompt
(`pagi://twins/{twin_id}/prompt`, twins the caller may see), as resource templates, plus a listing of
the caller's sessions and twins. Another user's session or private twin reads as not found (MCP's
-32002), never as "exists"."""

from __future__ import annotations

import json
import re
from typing import Any, Final

from aiohttp import web
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types import (
    ListResourcesResult,
    ListResourceTemplatesResult,
    PaginatedRequestParams,
    ReadResourceRequestParams,
    ReadResourceResult,
    Resource,
    ResourceTemplate,
    TextResourceContents,
)

from bus_schemas.mcp_door import HISTORY_URI, PROMPT_URI
from bus_schemas.subjects import TOKEN_RE
from records.access import Denied, may_see_twin

from ..api.memory_api import history_messages
from ..api.read_access import reader_of_session
from ..appkeys import OWNERS, STATE
from .mcp_context import McpCaller, mcp_caller
from .mcp_tools import visible_twins

RESOURCE_NOT_FOUND: Final = -32002  # the MCP specification's code for an unknown resource
MAX_LISTED_SESSIONS: Final = 100
_TOKEN: Final = TOKEN_RE.pattern.strip("^$")
_HISTORY_RE: Final = re.compile(rf"^pagi://sessions/({_TOKEN})/history$")
_PROMPT_RE: Final = re.compile(rf"^pagi://twins/({_TOKEN})/prompt$")


def history_uri(session_id: str) -> str:
    return HISTORY_URI.format(session_id=session_id)


def prompt_uri(twin_id: str) -> str:
    return PROMPT_URI.format(twin_id=twin_id)


TEMPLATES: Final = [
    ResourceTemplate(
        name="session-history",
        title="PAGI session history",
        uri_template=HISTORY_URI,
        description="A session's conversation (each message and each final answer, in order); your sessions only.",
        mime_type="application/json",
    ),
    ResourceTemplate(
        name="twin-prompt",
        title="PAGI twin prompt",
        uri_template=PROMPT_URI,
        description="A twin's system prompt (directive logic), for twins you may use.",
        mime_type="text/plain",
    ),
]


async def list_resource_templates(
    ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams | None
) -> ListResourceTemplatesResult:
    mcp_caller(ctx)  # only through the edge's route
    return ListResourceTemplatesResult(resource_templates=TEMPLATES)


async def list_resources(
    ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams | None
) -> ListResourcesResult:
    """The caller's own sessions (by id; the owner records keep no time, so not by recency) and the twins
    they may use. An admin's listing is their own sessions too: reading another's is by URI, recorded."""
    who = mcp_caller(ctx)
    sessions = sorted(await who.app[OWNERS].owned_by(who.reader.user_id))[:MAX_LISTED_SESSIONS]
    resources = [
        Resource(name=f"session {s}", uri=history_uri(s), mime_type="application/json", title=f"Session {s} history")
        for s in sessions
    ]
    resources += [
        Resource(
            name=f"twin {t.id} prompt", uri=prompt_uri(t.id), mime_type="text/plain", title=f"{t.codename}'s prompt"
        )
        for t in await visible_twins(who)
    ]
    return ListResourcesResult(resources=resources)


async def read_resource(ctx: ServerRequestContext[Any, Any], params: ReadResourceRequestParams) -> ReadResourceResult:
    who = mcp_caller(ctx)
    uri = str(params.uri)
    if match := _HISTORY_RE.match(uri):
        return await _history(who, uri, match.group(1))
    if match := _PROMPT_RE.match(uri):
        return await _prompt(who, uri, match.group(1))
    raise _not_found(uri)


def _not_found(uri: str) -> MCPError:
    return MCPError(RESOURCE_NOT_FOUND, "Resource not found", {"uri": uri[:300]})


async def _history(who: McpCaller, uri: str, session_id: str) -> ReadResourceResult:
    try:
        await reader_of_session(who.request, session_id, "the history (MCP)")
    except Denied:
        raise _not_found(uri) from None
    except web.HTTPServiceUnavailable:
        raise MCPError(-32603, "the read could not be recorded in the session's audit now; try again") from None
    messages = await history_messages(who.app, session_id)
    text = json.dumps({"session_id": session_id, "messages": messages})
    return ReadResourceResult(contents=[TextResourceContents(uri=uri, mime_type="application/json", text=text)])


async def _prompt(who: McpCaller, uri: str, twin_id: str) -> ReadResourceResult:
    twin = await who.app[STATE].twins.get(twin_id)
    if twin is None or not may_see_twin(who.reader, twin.owner):
        raise _not_found(uri)
    return ReadResourceResult(
        contents=[TextResourceContents(uri=uri, mime_type="text/plain", text=twin.directive_logic)]
    )
