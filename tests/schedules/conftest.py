"""Schedules against the real stack: a real nats-server (JetStream's own message schedules), the real
planner's consumers and its schedule-firing loop, the deterministic planner."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

import pytest
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy

from bus_schemas.schedules import SCHEDULE_FIRED, Schedule, ScheduleWrite
from pagi.bus import Bus, PullConsumer
from pagi.service import start_routes
from planner.__main__ import PlannerService
from records import schedules
from records.jobs import JobStore
from records.schedules import ScheduleStore
from records.twins import TwinStore

Add = Callable[..., Awaitable[Schedule]]


class Firings:
    """Every firing the server stores: read from the stream (a firing is stored, never published on
    the core subject, so a plain subscription sees none)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str], datetime]] = []

    async def record(self, msg: Msg) -> None:
        # The time the server stored it: the delivery to this reader may lag under load.
        self.seen.append((msg.subject, dict(msg.headers or {}), msg.metadata.timestamp))

    def of(self, schedule_id: str) -> list[tuple[str, dict[str, str], datetime]]:
        return [f for f in self.seen if f[0].endswith(schedule_id)]


@pytest.fixture
async def firings(bus: Bus) -> AsyncIterator[Firings]:
    seen = Firings()
    sub = await bus.js.subscribe(
        f"{SCHEDULE_FIRED}.*", cb=seen.record, ordered_consumer=True, deliver_policy=DeliverPolicy.NEW
    )
    await bus.nc.flush()
    yield seen
    await sub.unsubscribe()


@pytest.fixture
async def store(bus: Bus) -> ScheduleStore:
    await (await TwinStore.open(bus)).ensure_default()
    return await ScheduleStore.open(bus)


@pytest.fixture
def add(bus: Bus, store: ScheduleStore, session_id: str) -> Add:
    async def make(spec: str, message: str = "the overnight summary, please", **fields: Any) -> Schedule:
        write = ScheduleWrite(
            twin_id=fields.pop("twin_id", "orchestrator"),
            session_id=fields.pop("session_id", session_id),
            message=message,
            spec=spec,
            **fields,
        )
        return await schedules.add(bus, store, write, "alice", "member")

    return make


class PlannerProcess:
    """One planner as a process runs it: its consumers and its schedule-firing loop."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.service = PlannerService()
        self.consumers: list[PullConsumer] = []
        self.stopping = asyncio.Event()
        self.loop: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.consumers = await start_routes(self.bus, await self.service.routes(self.bus))
        assert self.service.firings is not None
        self.loop = asyncio.create_task(self.service.firings.run(self.stopping))

    async def stop(self) -> None:
        self.stopping.set()
        if self.loop is not None:
            await asyncio.wait_for(self.loop, 10)
        for consumer in self.consumers:
            await consumer.stop()
        await self.service.close()


StartPlanner = Callable[[], Awaitable[PlannerProcess]]


@pytest.fixture
async def planners(bus: Bus) -> AsyncIterator[StartPlanner]:
    started: list[PlannerProcess] = []

    async def start() -> PlannerProcess:
        process = PlannerProcess(bus)
        await process.start()
        started.append(process)
        return process

    yield start
    for process in started:
        if not process.stopping.is_set():
            await process.stop()


@pytest.fixture
async def jobs(bus: Bus) -> JobStore:
    return await JobStore.open(bus)


async def session_jobs(job_store: JobStore, session_id: str) -> list[str]:
    """The ids of every job of the session."""
    return [key.rsplit(".", 1)[-1] for key in await job_store.kv.keys(f"{session_id}.*")]
