"""The seed's /plan with the edge's API keys on: refused without a key, accepted as X-API-Key or a
bearer token (as the seed documents), and the caller's X-Trace-ID returned."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from edge.app import make_app
from edge.settings import EdgeSettings
from pagi.bus import Bus, PullConsumer

KEY = "plan-key-0123456789abcdef"
Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def secured(bus: Bus, planner: list[PullConsumer], monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Client]:
    monkeypatch.setenv("PAGI_API_KEY", KEY)
    async with TestClient(TestServer(make_app(EdgeSettings(PAGI_CHAT_TIMEOUT_S=10), bus=bus))) as client:
        yield client


async def test_plan_needs_the_key_and_keeps_the_trace_id(secured: Client) -> None:
    body = {"prompt": "hello", "resources": []}
    assert (await secured.post("/plan", json=body)).status == 401
    assert (await secured.post("/run", json=body, headers={"X-API-Key": "wrong-key-0123456789"})).status == 401
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    with_header = await secured.post("/plan", json=body, headers={"X-API-Key": KEY, "X-Trace-ID": trace})
    assert with_header.status == 200 and with_header.headers["X-Trace-ID"] == trace
    assert (await with_header.json())["status"] == "completed"
    bearer = await secured.post("/run", json=body, headers={"Authorization": f"Bearer {KEY}"})
    assert bearer.status == 200 and len(bearer.headers["X-Trace-ID"]) == 32
