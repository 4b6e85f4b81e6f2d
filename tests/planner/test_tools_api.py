"""GET /v1/tools: the registry the tool worker publishes, filtered to one twin's tools."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient

from tool_worker.service import ToolWorker

from .conftest import MakeTwin

Client = TestClient[web.Request, web.Application]


async def test_the_tool_menu_shows_only_the_twins_authorised_tools(
    edge: Client, tool_worker: ToolWorker, make_twin: MakeTwin
) -> None:
    everything = await (await edge.get("/v1/tools")).json()
    names = {t["name"] for t in everything["tools"]}
    assert {"command_exec", "python", "file_write", "file_read", "list_files", "vector_query"} <= names
    assert everything["sandbox"]["isolation"] == "bwrap"

    twin = await make_twin(allowed_tools=["file_read", "list_files"], always_allow=["list_files"])
    menu = await (await edge.get("/v1/tools", params={"twin": twin})).json()
    assert [(t["name"], t["always_allow"]) for t in menu["tools"]] == [("file_read", False), ("list_files", True)]

    one = await (await edge.get("/v1/tools/file_read")).json()
    assert one["kind"] == "builtin" and "path" in one["args_schema"]["properties"]
    assert (await edge.get("/v1/tools/nope")).status == 404
    assert (await edge.get("/v1/tools/..%2Fx")).status in (400, 404)
    assert (await edge.get("/v1/tools", params={"twin": "ghost"})).status == 404
