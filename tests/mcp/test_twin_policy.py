"""A twin's MCP policy (`mcp_tools`: `server/tool` or `server/*`) through the twin routes, against a
real edge process: validated shapes; servers not (yet) registered allowed and listed as such; the
same who-may-change-policy rule as `allowed_tools` (bob, a member, cannot widen the shared twin's
MCP policy; his own private twin is his to set)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from .conftest import BOB_KEY, ROOT_KEY, Registry

TIMEOUT = aiohttp.ClientTimeout(total=30)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        yield session


async def call(
    http: aiohttp.ClientSession, registry: Registry, method: str, path: str, body: Any = None, key: str = ROOT_KEY
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    data = None if body is None else json.dumps(body)
    async with http.request(method, registry.url + path, data=data, headers=headers) as reply:
        text = await reply.text()
        return reply.status, (json.loads(text) if text else None)


def settings_of(twin: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A PUT body: the twin's settings as served, changed."""
    served_only = {"id", "has_api_key", "owner", "status", "created_at", "updated_at", "mcp_unknown_servers"}
    return {**{k: v for k, v in twin.items() if k not in served_only}, **changes}


async def shared_twin(http: aiohttp.ClientSession, registry: Registry) -> str:
    twin_id = f"shared-{uuid.uuid4().hex[:8]}"
    status, body = await call(http, registry, "POST", "/v1/twins", {"id": twin_id, "codename": "Shared"})
    assert status == 201 and body["owner"] is None, body
    return twin_id


async def test_policy_names_registered_and_unknown_servers(registry: Registry, http: aiohttp.ClientSession) -> None:
    server = f"clock-{uuid.uuid4().hex[:6]}"
    body = {"name": server, "transport": "stdio", "command": "uvx", "args": ["mcp-server-time"]}
    assert (await call(http, registry, "POST", "/v1/mcp/servers", body))[0] == 201
    twin_id = await shared_twin(http, registry)
    _, twin = await call(http, registry, "GET", f"/v1/twins/{twin_id}")
    assert twin["mcp_tools"] == [] and twin["mcp_unknown_servers"] == []

    policy = [f"{server}/get_current_time", "later/*", "later/read.file", "other-one/x"]
    status, changed = await call(http, registry, "PUT", f"/v1/twins/{twin_id}", settings_of(twin, mcp_tools=policy))
    assert status == 200, changed
    _, twin = await call(http, registry, "GET", f"/v1/twins/{twin_id}")
    assert twin["mcp_tools"] == policy
    assert twin["mcp_unknown_servers"] == ["later", "other-one"]
    _, every = await call(http, registry, "GET", "/v1/twins")
    assert next(t for t in every["twins"] if t["id"] == twin_id)["mcp_unknown_servers"] == ["later", "other-one"]

    # Registered later: no longer unknown, with no change to the twin.
    later = {"name": "later", "transport": "http", "url": "https://later.example.com/mcp"}
    assert (await call(http, registry, "POST", "/v1/mcp/servers", later))[0] == 201
    _, twin = await call(http, registry, "GET", f"/v1/twins/{twin_id}")
    assert twin["mcp_unknown_servers"] == ["other-one"]


@pytest.mark.parametrize(
    "entry",
    ["time", "time/", "/tool", "Time/x", "time/a b", "time/**", "time/x/y", "t" * 33 + "/x", "time/" + "x" * 129],
)
async def test_malformed_policy_entries_are_400_naming_the_field(
    registry: Registry, http: aiohttp.ClientSession, entry: str
) -> None:
    twin_id = await shared_twin(http, registry)
    _, twin = await call(http, registry, "GET", f"/v1/twins/{twin_id}")
    status, body = await call(http, registry, "PUT", f"/v1/twins/{twin_id}", settings_of(twin, mcp_tools=[entry]))
    assert status == 400, body
    assert [d["field"] for d in body["details"]] == ["mcp_tools.0"]
    assert (await call(http, registry, "GET", f"/v1/twins/{twin_id}"))[1]["mcp_tools"] == []


async def test_a_member_cannot_widen_the_shared_twins_mcp_policy(
    registry: Registry, http: aiohttp.ClientSession
) -> None:
    twin_id = await shared_twin(http, registry)
    _, twin = await call(http, registry, "GET", f"/v1/twins/{twin_id}", key=BOB_KEY)  # he may see and use it
    status, body = await call(
        http, registry, "PUT", f"/v1/twins/{twin_id}", settings_of(twin, mcp_tools=["fs/*"]), key=BOB_KEY
    )
    assert status == 403 and "admin" in body["error"]
    assert (await call(http, registry, "GET", f"/v1/twins/{twin_id}"))[1]["mcp_tools"] == []

    # His own private twin is his to set.
    own = f"bobs-{uuid.uuid4().hex[:8]}"
    status, body = await call(
        http, registry, "POST", "/v1/twins", {"id": own, "codename": "Bob's", "mcp_tools": ["fs/*"]}, key=BOB_KEY
    )
    assert status == 201 and body["owner"] == "bob" and body["mcp_tools"] == ["fs/*"], body


async def test_a_twin_sent_back_as_read_keeps_its_policy(registry: Registry, http: aiohttp.ClientSession) -> None:
    """The console's settings form sends back what it read, served-only fields and all (minus the
    ones it strips): `mcp_unknown_servers` is dropped, not refused, and `mcp_tools` survives."""
    twin_id = await shared_twin(http, registry)
    _, twin = await call(http, registry, "GET", f"/v1/twins/{twin_id}")
    await call(http, registry, "PUT", f"/v1/twins/{twin_id}", settings_of(twin, mcp_tools=["ghost/*"]))
    _, twin = await call(http, registry, "GET", f"/v1/twins/{twin_id}")
    assert twin["mcp_unknown_servers"] == ["ghost"]
    as_read = {
        k: v for k, v in twin.items() if k not in {"id", "has_api_key", "owner", "status", "created_at", "updated_at"}
    }
    status, body = await call(http, registry, "PUT", f"/v1/twins/{twin_id}", {**as_read, "mission": "kept"})
    assert status == 200, body
    assert body["mcp_tools"] == ["ghost/*"] and body["mission"] == "kept"
