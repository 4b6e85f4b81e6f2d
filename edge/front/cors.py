"""CORS for the few reads a console on another origin makes: the seed's console, served on :3000,
reads `/v1/telemetry/stream` with an `EventSource` (its only cross-origin HTTP request; its chat is a
WebSocket, which the front door's Origin check covers).

A page may read across origins when `origins.may_read_across` says so: the edge's own and the
`PAGI_ALLOWED_ORIGINS` pages, and in development mode loopback pages. Such a page gets
`Access-Control-Allow-Origin: <its origin>`; any other page gets no CORS header at all, so its
browser keeps the answer from it. Every answer on these routes says `Vary: Origin`, so a cache never
hands one page's answer to another. No credentials are allowed across origins
(`Access-Control-Allow-Credentials` is never sent): a cookie never rides on another page's request.

A preflight (`OPTIONS` with `Access-Control-Request-Method`) on these routes is answered here, before
authentication (a browser never sends credentials on one): 204 with the methods and headers allowed,
for an allowed page on a Host this edge serves; 403 saying which setting to change otherwise.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web

from ..appkeys import SETTINGS
from . import origins
from .security import HOST_ALLOW_LIST

# Routes (fixed paths) a page on another origin may read.
CROSS_ORIGIN_READS: Final = frozenset({"/v1/telemetry/stream", "/v1/telemetry/hosts"})
ALLOW_METHODS: Final = "GET, HEAD, OPTIONS"
# What a cross-origin reader may send: an EventSource's resume header, and a key for keys mode.
ALLOW_HEADERS: Final = "Last-Event-ID, Cache-Control, Authorization, X-API-Key"
MAX_AGE_S: Final = "600"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _route(request: web.Request) -> str:
    # The path, not the matched resource: an OPTIONS on a GET route matches no resource (405).
    return request.path


def _served_host(request: web.Request) -> bool:
    ports = {request.app[SETTINGS].port}
    sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
    if isinstance(sockname, tuple) and len(sockname) >= 2 and isinstance(sockname[1], int):
        ports.add(sockname[1])
    return request.app[HOST_ALLOW_LIST].allows(request.headers.get("Host"), ports)


def allowed_origin(request: web.Request) -> str | None:
    """The Origin to name in `Access-Control-Allow-Origin`, or None (no CORS header)."""
    origin = request.headers.get("Origin")
    if origin is None or _route(request) not in CROSS_ORIGIN_READS:
        return None
    return origin if _served_host(request) and origins.may_read_across(request) else None


@web.middleware
async def preflight(request: web.Request, handler: Handler) -> web.StreamResponse:
    is_preflight = (
        request.method == "OPTIONS"
        and "Origin" in request.headers
        and "Access-Control-Request-Method" in request.headers
        and _route(request) in CROSS_ORIGIN_READS
    )
    if not is_preflight:
        return await handler(request)
    origin = allowed_origin(request)
    if origin is None:
        return web.json_response(
            {"error": origins.refusal(request, "read this route across origins")},
            status=403,
            headers={"Vary": "Origin"},
        )
    asked = request.headers["Access-Control-Request-Method"].upper()
    if asked not in ("GET", "HEAD"):
        return web.json_response(
            {"error": f"{request.path} answers only GET and HEAD across origins, not {asked[:16]}"},
            status=403,
            headers={"Vary": "Origin", "Access-Control-Allow-Origin": origin},
        )
    return web.Response(
        status=204,
        headers={
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": ALLOW_METHODS,
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Max-Age": MAX_AGE_S,
            "Vary": "Origin",
        },
    )


async def _add_headers(request: web.Request, response: web.StreamResponse) -> None:
    if _route(request) not in CROSS_ORIGIN_READS or "Access-Control-Allow-Origin" in response.headers:
        return
    vary = response.headers.get("Vary")
    if vary is None:
        response.headers["Vary"] = "Origin"
    elif "origin" not in vary.lower():
        response.headers["Vary"] = f"{vary}, Origin"
    origin = allowed_origin(request)
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin


def install(app: web.Application) -> None:
    """Call after edge/front/observability and before edge/front/security: a preflight is answered
    before the front door asks for a key."""
    app.middlewares.append(preflight)
    app.on_response_prepare.append(_add_headers)
