"""`GET /v1/tools` lists the tools registered MCP servers list beside the built-ins, against a real edge
process and nats-server (keys mode: root an admin, bob a member): with their JSON schemas, server,
annotations and the server's description marked as the server's; `?twin=` only what the twin's
`mcp_tools` allows, "always" shown only while its pin matches the tool as listed now; bob cannot
widen the shared twin's `mcp_tools`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest

from bus_schemas.mcp import pagi_tool_name
from bus_schemas.streams import MCP_TOOLS, TWINS
from bus_schemas.twin import Twin
from pagi.bus import Bus
from records import kvjson
from records.twins import twin_key

from .conftest import BOB_KEY, Registry
from .test_policy_mcp_tools import HOSTILE, mcp_tool
from .test_twin_policy import call, settings_of, shared_twin

TIMEOUT = aiohttp.ClientTimeout(total=30)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        yield session


@pytest.fixture
async def bus(registry: Registry) -> AsyncIterator[Bus]:
    bus = await Bus.connect(registry.stack.nats.url, "test-mcp-tools", connect_timeout_s=10)
    yield bus
    await bus.close()


async def test_the_tool_menu_lists_mcp_tools_with_their_schemas_and_the_servers_words(
    registry: Registry, http: aiohttp.ClientSession, bus: Bus
) -> None:
    server = f"t{uuid.uuid4().hex[:6]}"
    listed = mcp_tool(server, "get_current_time", HOSTILE, annotations={"readOnlyHint": True})
    other = mcp_tool(server, "set_clock", "Sets the clock", annotations={"destructiveHint": True})
    tools_kv = await bus.kv(MCP_TOOLS)
    for tool in (listed, other):
        await tools_kv.put(tool.name, tool.model_dump_json().encode())

    status, body = await call(http, registry, "GET", "/v1/tools")
    assert status == 200, body
    by_name = {t["name"]: t for t in body["tools"]}
    entry = by_name[pagi_tool_name(server, "get_current_time")]
    assert entry["kind"] == "mcp" and entry["server"] == server and entry["tool"] == "get_current_time"
    assert entry["args_schema"]["properties"]["timezone"]["type"] == "string"
    assert entry["description"] == HOSTILE and entry["description_by"] == "server"
    assert entry["annotations"] == {"readOnlyHint": True} and entry["always_allow"] is False
    status, one = await call(http, registry, "GET", f"/v1/tools/{listed.name}")
    assert status == 200 and one["server"] == server and one["args_schema"] == listed.input_schema

    # ?twin=: only what mcp_tools allows; "always" only while the pin is the tool as listed now.
    twin_id = await shared_twin(http, registry)
    _, twin = await call(http, registry, "GET", f"/v1/twins/{twin_id}")
    policy = {"mcp_tools": [f"{server}/get_current_time"]}
    assert (await call(http, registry, "PUT", f"/v1/twins/{twin_id}", settings_of(twin, **policy)))[0] == 200

    def pin(digest: str) -> Callable[[Twin], Twin]:
        def change(current: Twin) -> Twin:
            pins = {**current.always_allow_pins, listed.name: digest}
            return current.model_copy(update={"always_allow": [listed.name], "always_allow_pins": pins})

        return change

    await kvjson.update(await bus.kv(TWINS), twin_key(twin_id), Twin, pin(listed.digest))
    _, menu = await call(http, registry, "GET", f"/v1/tools?twin={twin_id}")
    mcp = [t for t in menu["tools"] if t["kind"] == "mcp"]
    assert [(t["name"], t["always_allow"]) for t in mcp] == [(listed.name, True)]
    await kvjson.update(await bus.kv(TWINS), twin_key(twin_id), Twin, pin("0" * 64))
    _, menu = await call(http, registry, "GET", f"/v1/tools?twin={twin_id}")
    assert [t["always_allow"] for t in menu["tools"] if t["kind"] == "mcp"] == [False]


async def test_a_member_cannot_widen_the_shared_twins_mcp_tools(
    registry: Registry, http: aiohttp.ClientSession
) -> None:
    twin_id = await shared_twin(http, registry)
    _, twin = await call(http, registry, "GET", f"/v1/twins/{twin_id}", key=BOB_KEY)
    widened = settings_of(twin, mcp_tools=["time/*"])
    status, refused = await call(http, registry, "PUT", f"/v1/twins/{twin_id}", widened, key=BOB_KEY)
    assert status == 403, refused
    _, after = await call(http, registry, "GET", f"/v1/twins/{twin_id}")
    assert after["mcp_tools"] == []
    status, bad = await call(http, registry, "GET", "/v1/tools/no__such", key=BOB_KEY)
    assert status == 404 and "no tool no__such" in bad["error"]
