"""The planner with its sweeper in the test's event loop (the real memory and tool workers are
fixtures of tests/conftest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from bus_schemas import ChatIn, Envelope, new_id
from bus_schemas.twin import TwinWrite
from pagi.bus import Bus
from pagi.service import start_routes
from planner.__main__ import PlannerService
from planner.settings import PlannerSettings
from records.twins import TwinStore


@pytest.fixture
async def full_planner(bus: Bus) -> AsyncIterator[PlannerService]:
    """Routes plus the sweeper (expiry, worker timeouts), with short intervals."""
    service = PlannerService(PlannerSettings(PAGI_SWEEP_INTERVAL_S=0.2, PAGI_WORKER_WARN_S=1, PAGI_WORKER_TIMEOUT_S=3))
    consumers = await start_routes(bus, await service.routes(bus))
    stopping = asyncio.Event()
    sweeper = asyncio.create_task(service.background(bus, stopping))
    yield service
    stopping.set()
    await asyncio.wait_for(sweeper, 5)
    for consumer in consumers:
        await consumer.stop()
    await service.close()


@pytest.fixture
async def twins(bus: Bus) -> TwinStore:
    return await TwinStore.open(bus)


MakeTwin = Callable[..., Awaitable[str]]


@pytest.fixture
def make_twin(twins: TwinStore) -> MakeTwin:
    async def make(**settings: Any) -> str:
        twin_id = f"twin-{new_id()[:8]}"
        await twins.create(twin_id, TwinWrite(codename=twin_id, **settings))
        return twin_id

    return make


Say = Callable[..., Awaitable[Envelope[Any]]]


@pytest.fixture
def say(bus: Bus, session_id: str) -> Say:
    async def send(message: str, twin_id: str | None = None, session: str | None = None) -> Envelope[Any]:
        job_id = new_id()
        event = Envelope[ChatIn](
            id=job_id, type="chat.in", session_id=session or session_id, job_id=job_id, twin_id=twin_id,
            body=ChatIn(message=message, user_id="tester", twin_id=twin_id),
        )  # fmt: skip
        await bus.publish(event)
        return event

    return send
