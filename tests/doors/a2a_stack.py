"""The real stack as the A2A door's tests use it: a real nats-server (tests/conftest.py), the real
planner (deterministic: no provider configured) and tool worker (bubblewrap) in this test's event
loop, and the real edge on a free port with API keys for alice, bob (members) and root (an admin),
plus a private twin for alice. Clients are the official `a2a-sdk`'s (`ClientFactory`, `A2ACardResolver`)
over httpx, against the edge's real TCP port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx
import pytest
from a2a.client import A2ACardResolver, Client, ClientConfig, ClientFactory
from a2a.types import a2a_pb2 as a2a
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from edge.app import make_app
from edge.settings import EdgeSettings
from pagi.bus import Bus, PullConsumer
from pagi.service import start_routes
from tool_worker.service import open_tool_worker

from ..workers_support import tool_settings

KEYS: Final = {
    "alice": "alice-a2a-key-0123456789abc",
    "bob": "bob-a2a-key-0123456789abcde",
    "root": "root-a2a-key-0123456789abcd",
}
ALICE_TWIN: Final = "alice-private"
# The deterministic planner turns this into a `list_files` tool call, which the default twin's policy
# asks a human about (allowed, not always-allowed).
NEEDS_APPROVAL: Final = "list files"
CHAT_TIMEOUT_S: Final = 15.0


@dataclass
class A2AStack:
    http: TestClient[web.Request, web.Application]
    _clients: list[httpx.AsyncClient] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return str(self.http.make_url("")).rstrip("/")

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {KEYS[user]}"}

    def httpx(self, user: str | None, key: str | None = None) -> httpx.AsyncClient:
        """An httpx client as `user` (its key in every request), or with `key`, or anonymous."""
        secret = key if key is not None else (KEYS[user] if user is not None else None)
        headers = {"Authorization": f"Bearer {secret}"} if secret is not None else {}
        client = httpx.AsyncClient(headers=headers, timeout=60)
        self._clients.append(client)
        return client

    async def card(self, user: str | None, path: str = "/.well-known/agent-card.json") -> a2a.AgentCard:
        return await A2ACardResolver(self.httpx(user), self.base_url, agent_card_path=path).get_agent_card()

    async def client(
        self,
        user: str,
        *,
        streaming: bool = True,
        version: str = "1.0",
        card_path: str = "/.well-known/agent-card.json",
        key: str | None = None,
    ) -> Client:
        """The SDK's client as `user`, from the card it resolves (anonymously, as a client first meets an
        agent); `version` picks the card's interface: "1.0" (SendMessage...) or "0.3" (message/send...)."""
        card = await self.card(None, card_path)
        chosen = [i for i in card.supported_interfaces if i.protocol_version == version]
        assert chosen, f"the card offers no {version} interface: {card.supported_interfaces}"
        del card.supported_interfaces[:]
        card.supported_interfaces.extend(chosen)
        config = ClientConfig(streaming=streaming, httpx_client=self.httpx(user, key))
        return ClientFactory(config).create(card)

    async def decide(self, approval_id: str, user: str, approved: bool) -> int:
        """Decide over PAGI's own HTTP API, as the console does."""
        response = await self.http.post(
            f"/v1/approvals/{approval_id}", json={"approved": approved}, headers=self.auth(user)
        )
        return response.status

    async def job(self, job_id: str, user: str = "root") -> dict[str, Any]:
        response = await self.http.get(f"/v1/jobs/{job_id}", headers=self.auth(user))
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
        return body

    async def close(self) -> None:
        for client in self._clients:
            await client.aclose()


@pytest.fixture
async def a2a_stack(bus: Bus, planner: list[PullConsumer], state_dir: Path) -> AsyncIterator[A2AStack]:
    worker = await open_tool_worker(bus, tool_settings(state_dir))
    consumers = await start_routes(bus, worker.routes)
    keys = ",".join(f"{key}:{user}" + (":admin" if user == "root" else "") for user, key in KEYS.items())
    settings = EdgeSettings(PAGI_API_KEYS=keys, PAGI_CHAT_TIMEOUT_S=CHAT_TIMEOUT_S, PAGI_RATE_LIMIT_BURST=200)
    stack: A2AStack | None = None
    try:
        async with TestClient(TestServer(make_app(settings, bus=bus))) as http:
            stack = A2AStack(http)
            created = await http.post(
                "/v1/twins",
                json={"id": ALICE_TWIN, "codename": "Alice's private twin"},
                headers=stack.auth("alice"),
            )
            assert created.status == 201, await created.text()
            yield stack
    finally:
        if stack is not None:
            await stack.close()
        for consumer in consumers:
            await consumer.stop()
        await worker.close()
