"""GET /v1/tools and /v1/tools/{name}: the tool registry, as the chat's tool menu shows it.

`?twin=ID` limits the list to the tools that twin may use (its `allowed_tools`), marking the ones
it runs without asking (`always_allow`).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bus_schemas.streams import TOOLS
from bus_schemas.subjects import TOKEN_RE
from bus_schemas.tool import SANDBOX_STATUS_KEY, TOOL_NAME_RE, SandboxStatus, ToolRecord

from ..appkeys import BUS
from ..validation import bad_request, not_found
from .planner_api import STATE


async def list_tools(request: web.Request) -> web.Response:
    kv = await request.app[BUS].kv(TOOLS)
    twin_id = request.query.get("twin")
    allowed: set[str] | None = None
    always: set[str] = set()
    if twin_id is not None:
        if not TOKEN_RE.match(twin_id):
            raise bad_request(f"invalid twin id {twin_id!r}")
        twin = await request.app[STATE].twins.get(twin_id)
        if twin is None:
            raise not_found(f"no twin {twin_id}")
        allowed, always = set(twin.allowed_tools), set(twin.always_allow)
    tools: list[dict[str, Any]] = []
    for name in sorted(await kv.keys()):
        if not TOOL_NAME_RE.match(name) or (allowed is not None and name not in allowed):
            continue
        record = await kv.get_model(name, ToolRecord)
        if record is not None:
            tools.append({**record.model_dump(mode="json"), "always_allow": name in always})
    sandbox = await kv.get_model(SANDBOX_STATUS_KEY, SandboxStatus)
    return web.json_response(
        {"tools": tools, "sandbox": sandbox.model_dump(mode="json") if sandbox else None, "twin": twin_id}
    )


async def get_tool(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if not TOOL_NAME_RE.match(name):
        raise bad_request(f"invalid tool name {name!r}")
    record = await (await request.app[BUS].kv(TOOLS)).get_model(name, ToolRecord)
    if record is None:
        raise not_found(f"no tool {name}")
    return web.json_response(record.model_dump(mode="json"))


def register(app: web.Application) -> None:
    app.router.add_get("/v1/tools", list_tools)
    app.router.add_get("/v1/tools/{name}", get_tool)
