"""Run a service: connect, wait for the topology (the bootstrap creates it), consume its routes, stop
cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from bus_schemas.streams import ConsumerSpec

from . import eventloop, tracing
from .bus import Bus, Handler, PullConsumer
from .eventloop import EventLoop
from .heartbeat import Heartbeater
from .logs import setup_logging
from .metrics import serve_metrics
from .settings import BusSettings, load_or_exit

log = logging.getLogger("pagi.service")

READY_LINE = "service ready"


@dataclass(frozen=True)
class Route:
    spec: ConsumerSpec
    handler: Handler
    max_in_flight: int = 64


RouteFactory = Callable[[Bus], Awaitable[Sequence[Route]]]
# A long-running task of the service besides its consumers (e.g. the telemetry sampler); it must
# return when `stopping` is set.
Background = Callable[[Bus, asyncio.Event], Coroutine[Any, Any, None]]


async def start_routes(bus: Bus, routes: Sequence[Route]) -> list[PullConsumer]:
    consumers = [PullConsumer(bus, r.spec, r.handler, max_in_flight=r.max_in_flight) for r in routes]
    for consumer in consumers:
        await consumer.start()
    return consumers


async def serve(
    name: str,
    routes: RouteFactory,
    background: Background | None = None,
    settings: BusSettings | None = None,
    stopping: asyncio.Event | None = None,
    metrics_url: str | None = None,
    heartbeat_s: float | None = None,
) -> None:
    settings = settings or BusSettings()
    stopping = stopping or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stopping.set)
    bus = await Bus.connect(settings.nats_url, name, settings.connect_timeout_s)
    try:
        # Not created here: the service's user may not (pagi/nats_users.py); `pagi up` or `pagi init` does.
        await bus.wait_for_topology(settings.connect_timeout_s)
        route_list = await routes(bus)
        consumers = await start_routes(bus, route_list)
        # What start-up made (modules, schemas, settings) lives as long as the service: out of the
        # collector's reach, a full collection walks only what handling messages allocates.
        gc.freeze()
        heartbeat = Heartbeater(bus, name, [r.spec for r in route_list], heartbeat_s, metrics_url)
        await heartbeat.start()
        extra = asyncio.create_task(background(bus, stopping)) if background else None
        if extra is not None:
            # A background task that dies takes the service down, so the supervisor restarts it.
            extra.add_done_callback(lambda _: stopping.set())
        log.info(READY_LINE)
        await stopping.wait()
        log.info("stopping: draining in-flight work")
        if extra is not None:
            await asyncio.wait_for(extra, timeout=10)
        await asyncio.gather(*(c.stop() for c in consumers))
        await heartbeat.stop()
    finally:
        await bus.close()
    log.info("stopped")


def run_service(
    name: str, routes: RouteFactory, background: Background | None = None, loop: EventLoop | None = None
) -> None:
    """`loop`: the event loop this service must run on whatever PAGI_EVENT_LOOP says (None: the setting)."""
    settings = load_or_exit(BusSettings, name)
    setup_logging(name, settings.log_level)
    tracing.setup_tracing(name)
    endpoint = serve_metrics()
    try:
        eventloop.run(
            serve(name, routes, background, settings, metrics_url=endpoint.url if endpoint else None),
            loop or settings.event_loop,
        )
    finally:
        tracing.shutdown_tracing()


async def no_routes(bus: Bus) -> Sequence[Route]:
    return ()
