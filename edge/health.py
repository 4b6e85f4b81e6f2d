"""GET /health: is the edge up, and can it reach the bus?"""

from __future__ import annotations

from importlib.metadata import version

from aiohttp import web

from .appkeys import BUS, HUB, SOCKETS


async def get_health(request: web.Request) -> web.Response:
    bus = request.app[BUS]
    rtt_ms = await bus.rtt_ms()
    healthy = bus.connected and rtt_ms is not None
    return web.json_response(
        {
            "service": "edge",
            "status": "ok" if healthy else "degraded",
            "version": version("pagi"),
            "bus": {"connected": bus.connected, "rtt_ms": None if rtt_ms is None else round(rtt_ms, 3)},
            "websockets": len(request.app[SOCKETS]),
            "sessions_watched": request.app[HUB].sessions,
        },
        status=200 if healthy else 503,
    )
