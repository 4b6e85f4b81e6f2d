"""Observability fixtures: the SDK's in-memory span exporter, a service run as `python -m` runs it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pagi import tracing
from pagi.nats_server import NatsServer
from pagi.service import RouteFactory, serve
from pagi.settings import BusSettings


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on for this test, every finished span kept in memory (exported as it ends)."""
    exporter = InMemorySpanExporter()
    tracing.setup_tracing("test", exporter=exporter, batch=False)
    yield exporter
    tracing.shutdown_tracing()


ServiceStarter = Callable[[str, RouteFactory], Awaitable[asyncio.Event]]


@pytest.fixture
async def run_service(nats_server: NatsServer) -> AsyncIterator[ServiceStarter]:
    """Start a service through `pagi.service.serve` (heartbeats and all); returns its stop event."""
    running: list[tuple[asyncio.Event, asyncio.Task[None]]] = []

    async def start(name: str, routes: RouteFactory) -> asyncio.Event:
        stopping = asyncio.Event()
        settings = BusSettings(NATS_URL=nats_server.url)
        task = asyncio.create_task(serve(name, routes, settings=settings, stopping=stopping, heartbeat_s=0.2))
        running.append((stopping, task))
        return stopping

    yield start
    for stopping, task in running:
        stopping.set()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(task, 15)
