"""Wiring of the live streams into the edge app: state, background parts, routes, shutdown."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator

from aiohttp import web

from bus_schemas.streams import SESSIONS
from records.sessions import SessionOwners

from ..appkeys import BUS, HUB, OWNERS, SETTINGS, STREAMS, TELEMETRY_HUB
from .events_sse import events_stream
from .outbox import SHUTTING_DOWN
from .telemetry_hub import TelemetryHub
from .telemetry_sse import hosts_event, telemetry_hosts, telemetry_stream


def setup_streams(app: web.Application) -> None:
    """Call after the bus's cleanup context is registered: this one needs the bus."""
    app[STREAMS] = set()

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        bus = app[BUS]
        app[OWNERS] = SessionOwners(await bus.kv(SESSIONS))
        hub = TelemetryHub(bus, app[SETTINGS].host_silent_after_s, hosts_event)
        await hub.start()
        app[TELEMETRY_HUB] = hub
        # What exists now (modules, schemas, settings) lives as long as the process: out of the
        # collector's reach, so a full collection under thousands of connections visits only what
        # they made (bench/fanout.py reports the collections and their pauses).
        gc.freeze()
        yield
        await hub.stop()
        await app[HUB].close()

    async def end_streams(app: web.Application) -> None:
        for outbox in app[STREAMS].copy():
            outbox.end(SHUTTING_DOWN)

    app.cleanup_ctx.append(lifecycle)
    app.on_shutdown.append(end_streams)
    app.router.add_get("/v1/events/stream", events_stream)
    app.router.add_get("/v1/telemetry/stream", telemetry_stream)
    app.router.add_get("/v1/telemetry/hosts", telemetry_hosts)
