"""The real stack as the OpenAI door's tests use it: a real nats-server (tests/conftest.py), the real
planner (deterministic: no provider configured) and tool worker (bubblewrap) in this test's event
loop, and the real edge on a free port with API keys for alice, bob (members) and root (an admin),
plus a private twin for each member. Clients are the official `openai` SDK's `AsyncOpenAI`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from openai import AsyncOpenAI

from edge.app import make_app
from edge.settings import EdgeSettings
from pagi.bus import Bus, PullConsumer
from pagi.service import start_routes
from tool_worker.service import open_tool_worker

from ..workers_support import tool_settings

KEYS: Final = {
    "alice": "alice-openai-key-0123456789",
    "bob": "bob-openai-key-0123456789ab",
    "root": "root-openai-key-0123456789a",
}
# A message the deterministic planner turns into a `list_files` tool call, which the default twin's
# policy asks a human about (allowed, not always-allowed).
NEEDS_APPROVAL: Final = "list files"
CHAT_TIMEOUT_S: Final = 15.0


@dataclass
class OpenAIStack:
    http: TestClient[web.Request, web.Application]

    @property
    def base_url(self) -> str:
        return str(self.http.make_url("/v1"))

    def client(self, user: str, **options: Any) -> AsyncOpenAI:
        """The official SDK as `user`; no retries, so a refusal is seen as it is."""
        settings: dict[str, Any] = {"api_key": KEYS[user], "base_url": self.base_url, "max_retries": 0, "timeout": 60}
        return AsyncOpenAI(**{**settings, **options})

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {KEYS[user]}"}

    async def decide(self, approval_id: str, user: str, approved: bool) -> int:
        """Decide over PAGI's own HTTP API, as the console does."""
        response = await self.http.post(
            f"/v1/approvals/{approval_id}", json={"approved": approved}, headers=self.auth(user)
        )
        return response.status

    async def create_private_twin(self, user: str, twin_id: str) -> None:
        response = await self.http.post("/v1/twins", json={"id": twin_id, "codename": twin_id}, headers=self.auth(user))
        assert response.status == 201, await response.text()


@pytest.fixture
async def openai_stack(bus: Bus, planner: list[PullConsumer], state_dir: Path) -> AsyncIterator[OpenAIStack]:
    worker = await open_tool_worker(bus, tool_settings(state_dir))
    consumers = await start_routes(bus, worker.routes)
    keys = ",".join(f"{key}:{user}" + (":admin" if user == "root" else "") for user, key in KEYS.items())
    settings = EdgeSettings(PAGI_API_KEYS=keys, PAGI_CHAT_TIMEOUT_S=CHAT_TIMEOUT_S, PAGI_RATE_LIMIT_BURST=200)
    try:
        async with TestClient(TestServer(make_app(settings, bus=bus))) as http:
            stack = OpenAIStack(http)
            await stack.create_private_twin("alice", "alice-notes")
            await stack.create_private_twin("bob", "bob-secret")
            yield stack
    finally:
        for consumer in consumers:
            await consumer.stop()
        await worker.close()
