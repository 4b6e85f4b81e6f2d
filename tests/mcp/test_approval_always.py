"""A second user and "always" on an MCP tool, against a real keys-mode edge, planner and nats-server:
bob, a member, may approve his own call of the shared twin's MCP tool once, but not "always" (that
changes the shared twin's policy, an admin's to change): refused whole, nothing pinned, the approval
still pending; the approval he sees carries the server's tool and words. The tools a server lists are
written into KV as the MCP host writes them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bus_schemas import new_id
from bus_schemas.streams import MCP_TOOLS, TWINS
from bus_schemas.subjects import APPROVE_DECISION, one_session
from bus_schemas.twin import Twin
from edge.app import make_app
from edge.settings import EdgeSettings
from pagi.bus import Bus, PullConsumer
from records import kvjson
from records.twins import DEFAULT_TWIN_ID, TwinStore, twin_key

from ..support import ObserveFactory
from .conftest import BOB_KEY, ROOT_KEY
from .test_policy_mcp_tools import HOSTILE, TIME, mcp_tool

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def keyed(bus: Bus, planner: list[PullConsumer], monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Client]:
    monkeypatch.setenv("PAGI_API_KEYS", f"{ROOT_KEY}:root:admin,{BOB_KEY}:bob:member")
    monkeypatch.setenv("PAGI_RATE_LIMIT_BURST", "1000")
    app = make_app(EdgeSettings(PAGI_CHAT_TIMEOUT_S=10), bus=bus)
    async with TestClient(TestServer(app)) as client:
        yield client


def key(k: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {k}"}


async def test_a_member_cannot_always_allow_the_shared_twins_mcp_tool(
    keyed: Client, bus: Bus, observe: ObserveFactory
) -> None:
    tool = mcp_tool("time", "get_current_time", HOSTILE)
    await (await bus.kv(MCP_TOOLS)).put(tool.name, tool.model_dump_json().encode())
    twins = await TwinStore.open(bus)
    await twins.ensure_default()

    def allow(current: Twin) -> Twin:
        return current.model_copy(update={"mcp_tools": ["time/*"]})

    await kvjson.update(await bus.kv(TWINS), twin_key(DEFAULT_TWIN_ID), Twin, allow)
    session_id = f"bob-{new_id()[:8]}"
    events = await observe(one_session(session_id))
    body = {"message": f'/tool {TIME} {{"timezone": "Asia/Tokyo"}}', "session_id": session_id}
    reply = await keyed.post("/v1/chat", json=body, headers=key(BOB_KEY))
    pending: dict[str, Any] = await reply.json()
    assert reply.status == 200 and pending["status"] == "awaiting_approval", pending
    approval_id = pending["issued_command"]["approval_id"]

    listed = await (await keyed.get("/v1/approvals", params={"session": session_id}, headers=key(BOB_KEY))).json()
    [approval] = listed["approvals"]
    assert approval["mcp"]["server"] == "time" and approval["mcp"]["description"] == HOSTILE
    assert approval["mcp"]["digest"] == tool.digest

    always = await keyed.post(
        f"/v1/approvals/{approval_id}", json={"approved": True, "always": True}, headers=key(BOB_KEY)
    )
    assert always.status == 403
    assert "'always'" in (await always.json())["error"]
    twin = await twins.get(DEFAULT_TWIN_ID)
    assert twin is not None and TIME not in twin.always_allow_pins and TIME not in twin.always_allow
    assert events.of_type(APPROVE_DECISION) == []  # refused whole: nothing decided

    once = await keyed.post(f"/v1/approvals/{approval_id}", json={"approved": True}, headers=key(BOB_KEY))
    assert once.status == 202
    [decision] = await events.wait_count(APPROVE_DECISION, 1)
    assert (decision.body.decided_by, decision.body.always) == ("bob", False)
