"""Fixtures for the edge's live streams: the real edge app (with or without the real planner) on a
real nats-server, with stream settings small enough to exercise bounds quickly."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from edge.app import make_app
from edge.settings import EdgeSettings
from pagi.bus import Bus

Client = TestClient[web.Request, web.Application]
EdgeFactory = Callable[..., Awaitable[Client]]


@pytest.fixture
async def make_edge(bus: Bus) -> AsyncIterator[EdgeFactory]:
    """Start an edge app on the test's bus; keyword arguments override the stream settings."""
    clients: list[Client] = []

    async def start(queue_size: int = 64, **stream: float | int) -> Client:
        overrides: dict[str, Any] = {"PAGI_SSE_QUEUE_SIZE": queue_size, "PAGI_SSE_PING_S": 1.0, **stream}
        settings = EdgeSettings(PAGI_CHAT_TIMEOUT_S=10, PAGI_WS_QUEUE_SIZE=queue_size, **overrides)
        app = make_app(settings, bus=bus)
        client: Client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()


@pytest.fixture
async def stream_edge(make_edge: EdgeFactory) -> Client:
    return await make_edge()
