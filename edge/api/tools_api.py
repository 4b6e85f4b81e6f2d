"""GET /v1/tools and /v1/tools/{name}: the tool registry and the tools registered MCP servers list,
as the chat's tool menu shows them.

`?twin=ID` limits the list to the tools that twin may use (its `allowed_tools`; an MCP tool when its
`mcp_tools` allows it), marking the ones it runs without asking (`always_allow`, as in force: a rebuilt
tool is not, nor an MCP tool whose server or description changed since "always"). A private twin of
another user is answered as unknown (records.access.may_see_twin). An MCP tool's description, title
and annotations are its server's words (`"description_by": "server"`), never PAGI's. Read through
`records.tools`, as the planner and the workers read them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from bus_schemas.mcp import McpTool
from bus_schemas.streams import MCP_TOOLS
from bus_schemas.subjects import TOKEN_RE
from bus_schemas.tool import TOOL_NAME_RE
from bus_schemas.twin import Twin
from records.access import may_see_twin
from records.mcp_servers import mcp_tool_allowed
from records.policy import McpToolUse
from records.tools import McpToolCatalog

from ..appkeys import BUS, STATE
from ..front.auth import caller
from ..validation import bad_request, not_found

MCP_CATALOG = web.AppKey("mcp_catalog", McpToolCatalog)


def mcp_entry(tool: McpTool, twin: Twin | None) -> dict[str, Any]:
    return {
        "name": tool.name,
        "kind": "mcp",
        "server": tool.server,
        "tool": tool.tool,
        "title": tool.title,
        "description": tool.description,
        "description_by": "server",
        "args_schema": tool.input_schema,
        "output_schema": tool.output_schema,
        "annotations": tool.annotations,
        "digest": tool.digest,
        "listed_at": tool.listed_at.isoformat(),
        "always_allow": twin is not None and McpToolUse(tool).always_in_force(twin),
    }


async def list_tools(request: web.Request) -> web.Response:
    records = request.app[STATE]
    twin_id = request.query.get("twin")
    allowed: set[str] | None = None
    always: set[str] = set()
    twin: Twin | None = None
    if twin_id is not None:
        if not TOKEN_RE.match(twin_id):
            raise bad_request(f"invalid twin id {twin_id!r}")
        twin = await records.twins.get(twin_id)
        if twin is None or not may_see_twin(caller(request), twin.owner):
            raise not_found(f"no twin {twin_id}")
        twin = await records.twins.in_force(twin)
        allowed, always = set(twin.allowed_tools), set(twin.always_allow)
    tools = [
        {**record.model_dump(mode="json"), "always_allow": record.name in always}
        for record in await records.tools.entries(allowed)
    ]
    for tool in await request.app[MCP_CATALOG].list():
        if twin is None or mcp_tool_allowed(twin.mcp_tools, tool.server, tool.tool):
            tools.append(mcp_entry(tool, twin))
    sandbox = await records.tools.sandbox_status()
    return web.json_response(
        {"tools": tools, "sandbox": sandbox.model_dump(mode="json") if sandbox else None, "twin": twin_id}
    )


async def get_tool(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if not TOOL_NAME_RE.match(name):
        raise bad_request(f"invalid tool name {name!r}")
    record = await request.app[STATE].tools.get(name)
    if record is not None:
        return web.json_response(record.model_dump(mode="json"))
    tool = await request.app[MCP_CATALOG].get(name)
    if tool is None:
        raise not_found(f"no tool {name}")
    return web.json_response(mcp_entry(tool, None))


def register(app: web.Application) -> None:
    async def open_catalog(app: web.Application) -> AsyncIterator[None]:
        app[MCP_CATALOG] = McpToolCatalog(await app[BUS].kv(MCP_TOOLS))
        yield

    app.cleanup_ctx.append(open_catalog)
    app.router.add_get("/v1/tools", list_tools)
    app.router.add_get("/v1/tools/{name}", get_tool)
