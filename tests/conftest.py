"""The fixtures more than one test package uses, in one place. The chain: a real nats-server per
test -> a connected Bus with PAGI's topology -> the real services in the test's event loop (planner,
edge, memory and tool workers); and `pagi up` as a real process. Helpers that are not fixtures live
beside this file: support.py (bounded waits), ports.py, up.py, stack.py and workload.py (the stack as
processes), fake_llm.py (fake LLM providers)."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from edge.app import make_app
from edge.settings import EdgeSettings
from memory_worker.__main__ import routes_for
from memory_worker.api import serve_api
from memory_worker.config import MemorySettings
from memory_worker.worker import MemoryWorker
from pagi.bus import Bus, PullConsumer
from pagi.service import start_routes
from pagi_cli.init import bootstrap_url
from pagi_cli.nats_server import NatsServer
from planner.__main__ import PlannerService
from tool_worker.service import ToolWorker, open_tool_worker
from tool_worker.settings import ToolSettings

from .fake_llm import FakeLLMServer
from .ports import free_ports
from .support import EventCollector, ObserveFactory
from .up import Up


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A real nats-server with PAGI's streams and buckets: bootstrapped as `pagi up` and `pagi init`
    do, since no service creates them (pagi/bus/_topology.py)."""
    server = NatsServer(store_dir=tmp_path / "nats", log_file=tmp_path / "nats.log")
    server.start()
    asyncio.run(bootstrap_url(server.url))
    yield server
    server.stop()


@pytest.fixture
async def bus(nats_server: NatsServer) -> AsyncIterator[Bus]:
    # The server fixture has bootstrapped it already.
    connected = await Bus.connect(nats_server.url, "test-client", connect_timeout_s=10)
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


@pytest.fixture
async def fake_llm() -> AsyncIterator[FakeLLMServer]:
    """A local server speaking the providers' real protocols (tests/fake_llm.py), scripted per test."""
    async with FakeLLMServer() as server:
        yield server


@pytest.fixture
async def memory_worker(bus: Bus, tmp_path: Path) -> AsyncIterator[MemoryWorker]:
    """The real memory worker: its consumers and its request/reply API."""
    worker = await MemoryWorker.open(MemorySettings(PAGI_DATA_DIR=tmp_path / "memory"))
    consumers = await start_routes(bus, routes_for(worker))
    stopping = asyncio.Event()
    api = asyncio.create_task(serve_api(bus, worker, stopping))
    await bus.nc.flush()
    yield worker
    stopping.set()
    await asyncio.wait_for(api, 5)
    for consumer in consumers:
        await consumer.stop()
    await worker.close()


@pytest.fixture
async def tool_worker(bus: Bus, tmp_path: Path) -> AsyncIterator[ToolWorker]:
    """The real tool worker's consumers."""
    worker = await open_tool_worker(bus, ToolSettings(PAGI_DATA_DIR=tmp_path / "tools"))
    consumers = await start_routes(bus, worker.routes)
    yield worker
    for consumer in consumers:
        await consumer.stop()
    await worker.close()


@pytest.fixture
async def pagi_up(tmp_path: Path) -> AsyncIterator[Up]:
    """`pagi up` from this checkout as a real process tree, up and answering."""
    env = {k: v for k, v in os.environ.items() if k != "NATS_URL"}
    web_port, nats_port = free_ports(2)
    data_dir = tmp_path / "data"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pagi_cli", "up",
        "--data-dir", str(data_dir), "--nats-port", str(nats_port), "--port", str(web_port),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env,
    )  # fmt: skip
    up = Up(proc, web_port, nats_port, data_dir)
    try:
        await up.wait_line("PAGI is up at", timeout=120)
        yield up
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
