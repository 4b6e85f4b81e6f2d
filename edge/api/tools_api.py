"""GET /v1/tools and /v1/tools/{name}: the tool registry, as the chat's tool menu shows it.

`?twin=ID` limits the list to the tools that twin may use (its `allowed_tools`), marking the ones
it runs without asking (`always_allow`, as in force: a rebuilt tool is not). A private twin of
another user is answered as unknown (records.access.may_see_twin). Read through
`records.tools.ToolRegistry`, as the planner and the workers read it.
"""

from __future__ import annotations

from aiohttp import web

from bus_schemas.subjects import TOKEN_RE
from bus_schemas.tool import TOOL_NAME_RE
from records.access import may_see_twin

from ..appkeys import STATE
from ..front.auth import caller
from ..validation import bad_request, not_found


async def list_tools(request: web.Request) -> web.Response:
    records = request.app[STATE]
    twin_id = request.query.get("twin")
    allowed: set[str] | None = None
    always: set[str] = set()
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
    sandbox = await records.tools.sandbox_status()
    return web.json_response(
        {"tools": tools, "sandbox": sandbox.model_dump(mode="json") if sandbox else None, "twin": twin_id}
    )


async def get_tool(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if not TOOL_NAME_RE.match(name):
        raise bad_request(f"invalid tool name {name!r}")
    record = await request.app[STATE].tools.get(name)
    if record is None:
        raise not_found(f"no tool {name}")
    return web.json_response(record.model_dump(mode="json"))


def register(app: web.Application) -> None:
    app.router.add_get("/v1/tools", list_tools)
    app.router.add_get("/v1/tools/{name}", get_tool)
