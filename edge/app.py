"""The edge's aiohttp application: its parts (the front door, the HTTP API, the live streams, the web UI)
put together, with the bus as the first cleanup context."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from pagi.bus import Bus
from pagi.settings import BusSettings

from . import web_ui
from .api import (
    budgets_api,
    documents_api,
    evals_api,
    legacy_api,
    mcp_api,
    memory_api,
    openapi,
    planner_api,
    schedules_api,
    seed_api,
    tools_api,
    twins_api,
    usage_api,
)
from .api.audit_http import get_audit
from .api.chat_http import post_chat
from .api.health import get_health
from .appkeys import BUS, HUB, SETTINGS, SOCKETS
from .doors import agents_nats
from .doors.a2a import register as register_a2a_door
from .doors.errors import install as install_door_errors
from .doors.mcp_server import register as register_mcp_door
from .doors.openai_api import register as register_openai_door
from .front.cors import install as install_cors
from .front.denials import install as install_denials
from .front.observability import install as install_observability
from .front.security import install as install_security
from .live.chat_ws import chat_socket
from .live.client_socket import ClientSocket
from .live.session_hub import SessionHub
from .live.streams import setup_streams
from .settings import EdgeSettings


def make_app(
    settings: EdgeSettings, bus: Bus | None = None, bus_settings: BusSettings | None = None
) -> web.Application:
    """An edge app. Given a bus it uses it (tests); otherwise it connects on startup and closes on cleanup."""
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[SOCKETS] = set[ClientSocket]()

    async def bus_lifecycle(app: web.Application) -> AsyncIterator[None]:
        owned = bus is None
        connected = bus
        if connected is None:
            config = bus_settings or BusSettings()
            connected = await Bus.connect(config.nats_url, "edge", config.connect_timeout_s)
            try:
                # The bootstrap (`pagi up`, `pagi init`) creates the streams; the edge's user may not.
                await connected.wait_for_topology(config.connect_timeout_s)
            except BaseException:
                await connected.close()
                raise
        app[BUS] = connected
        app[HUB] = SessionHub(connected)
        yield
        if owned:
            await connected.close()

    async def close_sockets(app: web.Application) -> None:
        sockets: set[ClientSocket] = app[SOCKETS]
        for client in list(sockets):
            await client.close()

    app.cleanup_ctx.append(bus_lifecycle)
    app.on_shutdown.append(close_sockets)
    install_observability(app)
    install_door_errors(app)  # outermost: refusals of every middleware come out in the door's shape
    install_cors(app)  # a preflight is answered before the front door asks for a key
    install_security(app)
    install_denials(app)  # inside the front door, so its answers carry the security headers
    setup_streams(app)

    app.router.add_get("/health", get_health)
    app.router.add_post("/v1/chat", post_chat)
    app.router.add_get("/ws/chat/{user_id}", chat_socket)
    app.router.add_get("/v1/audit", get_audit)
    planner_api.register(app)
    twins_api.register(app)
    tools_api.register(app)
    mcp_api.register(app)
    usage_api.register(app)
    budgets_api.register(app)
    evals_api.register(app)
    schedules_api.register(app)
    legacy_api.register(app)
    seed_api.register(app)
    memory_api.register(app)
    documents_api.register(app)
    openapi.register(app)
    register_openai_door(app)
    agents_nats.register(app)
    register_a2a_door(app)
    register_mcp_door(app)
    web_ui.register(app, settings.web_dir)
    return app
