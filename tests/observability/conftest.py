"""Observability fixtures: the SDK's in-memory span exporter, a service run as `python -m` runs it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pagi import tracing
from pagi.service import RouteFactory, serve
from pagi.settings import BusSettings
from pagi_cli.nats_server import NatsServer


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """Tracing on for this test, every trace sampled whatever the environment says, every finished
    span kept in memory (exported as it ends)."""
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_always_on")
    exporter = InMemorySpanExporter()
    tracing.setup_tracing("test", exporter=exporter, batch=False)
    yield exporter
    tracing.shutdown_tracing()


@dataclass
class Running:
    stopping: asyncio.Event  # set it for a clean stop (drain, goodbye heartbeat)
    task: asyncio.Task[None]  # cancel it for a stop without goodbye, as a killed process


ServiceStarter = Callable[[str, RouteFactory], Awaitable[Running]]


@pytest.fixture
async def run_service(nats_server: NatsServer) -> AsyncIterator[ServiceStarter]:
    """Start a service through `pagi.service.serve` (heartbeats every 0.2 s and all)."""
    running: list[Running] = []

    async def start(name: str, routes: RouteFactory) -> Running:
        stopping = asyncio.Event()
        settings = BusSettings(NATS_URL=nats_server.url)
        task = asyncio.create_task(serve(name, routes, settings=settings, stopping=stopping, heartbeat_s=0.2))
        running.append(Running(stopping, task))
        return running[-1]

    yield start
    for service in running:
        service.stopping.set()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(service.task, 15)
