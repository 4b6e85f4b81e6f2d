"""The real stack as the agent protocol door needs it: a nats-server run with PAGI's generated nats.conf
(every service its own NATS user, plus the agent callers `agent_alice` and `agent_bob` from
PAGI_NATS_AGENT_CALLERS), bootstrapped by the operator, and the real planner, tool worker and edge in
this test's event loop, each connected as its own user, the edge with API keys for alice and bob."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import nats
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from nats.aio.client import Client

from edge.app import make_app
from edge.settings import EdgeSettings
from memory_worker.__main__ import routes_for
from memory_worker.config import MemorySettings
from memory_worker.worker import MemoryWorker
from pagi.bus import Bus
from pagi.credentials import load_or_create, url_with_user
from pagi.nats_users import (
    AGENT_CALLERS_ENV,
    AGENT_SDK_INBOX,
    OPERATOR,
    TELEMETRY_SUBJECT_ENV,
    agent_caller_user,
    password_env,
    render_conf,
)
from pagi.service import start_routes
from pagi_cli.init import bootstrap_url
from pagi_cli.nats_server import NatsServer
from planner.__main__ import PlannerService
from tool_worker.service import open_tool_worker

from ..workers_support import tool_settings

CALLERS: Final = ("alice", "bob")
KEYS: Final = {"alice": "alice-key-0123456789abcdef", "bob": "bob-key-0123456789abcdefgh"}


@dataclass
class Refusals:
    """What the server refused one client (its async permission errors), as they come."""

    messages: list[str]

    async def on_error(self, exc: Exception) -> None:
        self.messages.append(str(exc).lower())

    def about(self, subject: str) -> list[str]:
        return [m for m in self.messages if "permissions violation" in m and f'"{subject.lower()}"' in m]


@dataclass
class AgentsStack:
    server: NatsServer
    passwords: dict[str, str]
    http: TestClient[web.Request, web.Application]

    def url(self, user: str) -> str:
        return user_url(self.server, self.passwords, user)

    async def caller(self, owner: str, refusals: Refusals | None = None) -> Client:
        """A NATS connection as `owner`'s agent caller, with the SDK's inbox prefix (its raw requests
        land where the caller may read)."""
        errors = refusals or Refusals([])
        return await nats.connect(
            self.url(agent_caller_user(owner)),
            name=f"test-{owner}",
            inbox_prefix=AGENT_SDK_INBOX,
            error_cb=errors.on_error,
            connect_timeout=5,
            max_reconnect_attempts=0,
        )

    def auth(self, owner: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {KEYS[owner]}"}


def user_url(server: NatsServer, passwords: dict[str, str], user: str) -> str:
    return url_with_user(server.url, user, passwords[password_env(user)])


@pytest.fixture
async def agents_stack(tmp_path: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[AgentsStack]:
    monkeypatch.setenv(AGENT_CALLERS_ENV, ",".join(CALLERS))
    conf = tmp_path / "nats.conf"
    conf.write_text(render_conf(list(CALLERS)))
    passwords = load_or_create(tmp_path)  # the table's users, the callers among them
    env = {**passwords, TELEMETRY_SUBJECT_ENV: "telemetry.host.test"}
    server = NatsServer(store_dir=tmp_path / "nats", config=conf, log_file=tmp_path / "nats.log", env=env)
    server.start()
    buses: list[Bus] = []
    try:
        await bootstrap_url(user_url(server, passwords, OPERATOR))
        planner_bus = await Bus.connect(user_url(server, passwords, "planner"), "planner", connect_timeout_s=10)
        tool_bus = await Bus.connect(user_url(server, passwords, "tool"), "tool_worker", connect_timeout_s=10)
        edge_bus = await Bus.connect(user_url(server, passwords, "edge"), "edge", connect_timeout_s=10)
        memory_bus = await Bus.connect(user_url(server, passwords, "memory"), "memory_worker", connect_timeout_s=10)
        buses += [planner_bus, tool_bus, edge_bus, memory_bus]
        planner = PlannerService()
        consumers = await start_routes(planner_bus, await planner.routes(planner_bus))
        worker = await open_tool_worker(tool_bus, tool_settings(state_dir))
        consumers += await start_routes(tool_bus, worker.routes)
        # The memory worker reads what a prompt attaches (under its own user: may it read the upload?).
        memory = await MemoryWorker.open(MemorySettings(PAGI_DATA_DIR=tmp_path / "memory"))
        consumers += await start_routes(memory_bus, routes_for(memory))
        keys = ",".join(f"{key}:{user}" for user, key in KEYS.items())
        settings = EdgeSettings(PAGI_API_KEYS=keys, PAGI_CHAT_TIMEOUT_S=20)
        app = make_app(settings, bus=edge_bus)
        try:
            async with TestClient(TestServer(app)) as http:
                yield AgentsStack(server, passwords, http)
        finally:
            for consumer in consumers:
                await consumer.stop()
            await worker.close()
            await memory.close()
            await planner.close()
    finally:
        for bus in buses:
            await bus.close()
        server.stop()
