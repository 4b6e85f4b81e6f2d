"""An MCP tool's "always allow" in the twin's record: in force while the tool is listed with the
digest the person approved, so the twin's view (and a form saved from it) keeps it; a server that
changed the tool, or stopped listing it, voids it."""

from __future__ import annotations

import uuid

from bus_schemas.streams import MCP_TOOLS
from bus_schemas.twin import TwinWrite
from pagi.bus import Bus
from records.twins import TwinStore

from .test_policy_mcp_tools import list_tool, mcp_tool


async def test_an_mcp_always_allow_holds_while_its_digest_is_listed(bus: Bus) -> None:
    twins = await TwinStore.open(bus)
    twin_id = f"pins-{uuid.uuid4().hex[:6]}"
    await twins.create(twin_id, TwinWrite.model_validate({"codename": "Pins", "mcp_tools": ["time/*"]}))
    approved = mcp_tool("time", "get_current_time")
    await list_tool(bus, approved)

    await twins.allow_always(twin_id, approved.name, approved.digest)
    assert approved.name in (await twins.get_or_default(twin_id)).always_allow

    await list_tool(bus, mcp_tool("time", "get_current_time", version="2"))  # the server changed it
    assert approved.name not in (await twins.get_or_default(twin_id)).always_allow
    stored = await twins.get(twin_id)
    assert stored is not None and stored.always_allow_pins[approved.name] == approved.digest  # ask again, then re-pin

    await (await bus.kv(MCP_TOOLS)).delete(approved.name)
    assert approved.name not in (await twins.get_or_default(twin_id)).always_allow  # no longer listed
