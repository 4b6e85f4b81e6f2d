"""The real stack as the MCP door's tests use it: a real nats-server (tests/conftest.py), the real planner
(deterministic: no provider configured) and tool worker (bubblewrap) in this test's event loop, and the
real edge on a free port with API keys for alice, bob (members) and root (an admin), plus a private
twin for each member. The client is the official `mcp` SDK's Streamable HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx2
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from edge.app import make_app
from edge.settings import EdgeSettings
from pagi.bus import Bus, PullConsumer
from pagi.service import start_routes
from tool_worker.service import open_tool_worker

from ..workers_support import tool_settings

KEYS: Final = {
    "alice": "alice-mcp-key-0123456789abc",
    "bob": "bob-mcp-key-0123456789abcde",
    "root": "root-mcp-key-0123456789abcd",
}
# A message the deterministic planner turns into a `list_files` tool call, which the default twin's
# policy asks a human about (allowed, not always-allowed).
NEEDS_APPROVAL: Final = "list files"
CHAT_TIMEOUT_S: Final = 15.0
HTTP_TIMEOUT: Final = httpx2.Timeout(30.0, read=120.0)


@dataclass
class McpStack:
    http: TestClient[web.Request, web.Application]

    @property
    def url(self) -> str:
        return str(self.http.make_url("/mcp"))

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {KEYS[user]}"}

    @asynccontextmanager
    async def session(self, user: str | None, headers: dict[str, str] | None = None) -> AsyncIterator[ClientSession]:
        """An initialized MCP session as `user` (None: no key), through the SDK's own HTTP client."""
        sent = {**(self.auth(user) if user else {}), **(headers or {})}
        async with (
            httpx2.AsyncClient(headers=sent, timeout=HTTP_TIMEOUT) as client,
            streamable_http_client(self.url, http_client=client) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session

    def raw_client(self, user: str | None, **headers: str) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(headers={**(self.auth(user) if user else {}), **headers}, timeout=HTTP_TIMEOUT)

    async def decide(self, approval_id: str, user: str, approved: bool) -> int:
        """Decide over PAGI's own HTTP API, as the console does, while the MCP call is open."""
        response = await self.http.post(
            f"/v1/approvals/{approval_id}", json={"approved": approved}, headers=self.auth(user)
        )
        return response.status

    async def pending_approvals(self, user: str) -> list[dict[str, Any]]:
        response = await self.http.get("/v1/approvals", headers=self.auth(user))
        assert response.status == 200, await response.text()
        approvals: list[dict[str, Any]] = (await response.json())["approvals"]
        return approvals

    async def job(self, job_id: str, user: str) -> dict[str, Any]:
        response = await self.http.get(f"/v1/jobs/{job_id}", headers=self.auth(user))
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
        return body

    async def create_private_twin(self, user: str, twin_id: str) -> None:
        response = await self.http.post(
            "/v1/twins",
            json={"id": twin_id, "codename": twin_id, "mission": f"{user}'s own notes"},
            headers=self.auth(user),
        )
        assert response.status == 201, await response.text()


@pytest.fixture
async def mcp_stack(bus: Bus, planner: list[PullConsumer], state_dir: Path) -> AsyncIterator[McpStack]:
    worker = await open_tool_worker(bus, tool_settings(state_dir))
    consumers = await start_routes(bus, worker.routes)
    keys = ",".join(f"{key}:{user}" + (":admin" if user == "root" else "") for user, key in KEYS.items())
    settings = EdgeSettings(PAGI_API_KEYS=keys, PAGI_CHAT_TIMEOUT_S=CHAT_TIMEOUT_S, PAGI_RATE_LIMIT_BURST=200)
    try:
        async with TestClient(TestServer(make_app(settings, bus=bus))) as http:
            stack = McpStack(http)
            await stack.create_private_twin("alice", "alice-notes")
            await stack.create_private_twin("bob", "bob-secret")
            yield stack
    finally:
        for consumer in consumers:
            await consumer.stop()
        await worker.close()
