"""Fixture chain: a real nats-server per test -> a connected Bus with PAGI's topology."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from edge.app import make_app
from edge.settings import EdgeSettings
from pagi.bus import Bus
from pagi.consume import PullConsumer
from pagi.service import start_routes
from pagi_cli.nats_server import NatsServer
from planner.__main__ import PlannerService

from .support import EventCollector, ObserveFactory


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(store_dir=tmp_path / "nats", log_file=tmp_path / "nats.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def bus(nats_server: NatsServer) -> AsyncIterator[Bus]:
    connected = await Bus.connect(nats_server.url, "test-client", connect_timeout_s=10)
    await connected.ensure_topology()
    yield connected
    await connected.close()


@pytest.fixture
def session_id() -> str:
    """A unique session per test, so no test ever sees another's events."""
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def collector() -> EventCollector:
    return EventCollector()


@pytest.fixture
async def observe(bus: Bus) -> AsyncIterator[ObserveFactory]:
    observers = []

    async def start(subject: str) -> EventCollector:
        events = EventCollector()
        observers.append(await bus.observe(subject, events))
        await bus.nc.flush()
        return events

    yield start
    for observer in observers:
        await observer.stop()


@pytest.fixture
async def planner(bus: Bus) -> AsyncIterator[list[PullConsumer]]:
    """The real planner's consumers, running in this test's event loop."""
    service = PlannerService()
    consumers = await start_routes(bus, await service.routes(bus))
    yield consumers
    for consumer in consumers:
        await consumer.stop()
    await service.close()


@pytest.fixture
async def edge(bus: Bus, planner: list[PullConsumer]) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    """The real edge app on a free port, wired to the real planner over the real bus."""
    app = make_app(EdgeSettings(PAGI_CHAT_TIMEOUT_S=10, PAGI_WS_QUEUE_SIZE=64), bus=bus)
    async with TestClient(TestServer(app)) as client:
        yield client
