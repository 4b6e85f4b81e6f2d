"""The edge's front door: the Host allow-list, writes only as JSON and only from the edge's own (or an
allowed) origin, authentication, wrong keys limited per address, logout that revokes the cookie, body
size, per-user rate limits, security headers, and the refusal to serve a non-loopback address without
keys.

Public without a key: `/health` (up or down only; details need a key, see edge/api/health.py), and
GET/HEAD of the web UI (anything outside the API prefixes). Everything else needs a key (see
edge/front/auth.py). The Host, Origin and JSON rules hold in development mode too: they are what keep
a web page the person visits from driving the edge on their machine.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from bus_schemas.streams import REVOKED
from pagi.bus import TRANSIENT_ERRORS

from ..appkeys import AUTH_KEYS, BUS, FAILED_KEYS, RATE_LIMITER, REVOKED_SESSIONS, SETTINGS
from . import origins
from .auth import AUTH_ROLE, AUTH_USER, SESSION_COOKIE, WS_KEY_PROTOCOL, ApiKeys, caller, presented_key
from .hosts import HostAllowList, is_loopback
from .rate_limit import FailureLimiter, RateLimiter
from .revoked import RevokedSessions
from .route_rules import UPLOAD_PATHS, rule_for

log = logging.getLogger("edge.security")

API_PREFIXES: Final = ("/v1/", "/ws/", "/api/", "/metrics", "/plan", "/run", "/memory/", "/mcp")
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_PATH: Final = "/v1/auth/session"
# Routes whose writes carry a body that is not JSON: file uploads (multipart). Every other write is
# JSON or has no body at all (DELETE, cancel, login with the key in a header, logout).
RAW_BODY_PATHS: Final[frozenset[str]] = UPLOAD_PATHS
# What a multipart body may carry beyond its file: the boundaries, part headers and small fields.
UPLOAD_ENVELOPE_BYTES: Final = 64 * 1024
HOST_ALLOW_LIST: Final = web.AppKey("host_allow_list", HostAllowList)
CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
HEADERS: Final = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Content-Security-Policy": CSP,
}


class InsecureBind(RuntimeError):
    pass


def is_public(request: web.Request) -> bool:
    if request.path == "/health":
        return True
    return request.method in SAFE_METHODS and not request.path.startswith(API_PREFIXES)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


def _edge_ports(request: web.Request) -> set[int]:
    ports = {request.app[SETTINGS].port}
    sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
    if isinstance(sockname, tuple) and len(sockname) >= 2 and isinstance(sockname[1], int):
        ports.add(sockname[1])
    return ports


def _not_json(request: web.Request) -> bool:
    if request.path in RAW_BODY_PATHS:
        return False
    if not request.body_exists:
        return False  # nothing to parse, whatever it is labelled (clients label an empty body variously)
    return request.content_type != "application/json"


def _address(request: web.Request) -> str:
    return request.remote or "unknown"


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    keys = request.app[AUTH_KEYS]
    max_body = settings.max_body_bytes
    if request.path in UPLOAD_PATHS:
        # The upload's handler streams the file to disk and counts every byte it reads (a chunked
        # body too); a declared length already past the limit is refused here, before any is read.
        max_body = settings.max_upload_bytes + UPLOAD_ENVELOPE_BYTES
    if request.content_length is not None and request.content_length > max_body:
        return _error(413, f"request body is larger than {max_body} bytes")
    if not request.app[HOST_ALLOW_LIST].allows(request.headers.get("Host"), _edge_ports(request)):
        # Never echo the Host: it is the attacker's text.
        return _error(421, "this Host header is not one this edge serves (PAGI_ALLOWED_HOSTS)")
    is_websocket = request.headers.get("Upgrade", "").lower() == "websocket"
    if is_websocket and not origins.may_read_across(request):
        return _error(403, origins.refusal(request, "open a WebSocket"))
    if request.method not in SAFE_METHODS:
        if not origins.may_write(request):
            return _error(403, origins.refusal(request, "send a request that changes something"))
        if _not_json(request):
            return _error(415, "a request that changes something must be JSON: send Content-Type: application/json")
    if rule_for(request) is None and request.match_info.http_exception is None:
        # Fail closed: a route nobody gave a rule (edge/front/route_rules.py) is served to nobody.
        return _error(403, "this route has no authorization rule, so it is refused")
    if is_public(request):
        # /health and the A2A cards answer anyone, and say more to a caller who shows a key.
        shows_more = request.path == "/health" or request.path.endswith("/.well-known/agent-card.json")
        if keys.enabled and shows_more and _presents_credentials(request):
            return await _authenticated(request, handler, keys, public=True)
        return await handler(request)
    if keys.enabled:
        return await _authenticated(request, handler, keys, public=False)
    return await handler(request)


def _presents_credentials(request: web.Request) -> bool:
    return presented_key(request) is not None or bool(request.cookies.get(SESSION_COOKIE))


async def _authenticated(request: web.Request, handler: Handler, keys: ApiKeys, public: bool) -> web.StreamResponse:
    """Authenticate, then call the handler. `public` (/health): an ended cookie gets the public answer."""
    failures = request.app[FAILED_KEYS]
    key = presented_key(request)
    if key is not None:
        # Checked before the key, so guessing past the limit learns nothing, even the right key.
        wait = failures.wait(_address(request))
        if wait > 0:
            return _error(
                429, "too many wrong API keys from this address; wait", {"Retry-After": str(max(1, math.ceil(wait)))}
            )
    try:
        user = await _authenticate(request, keys)
    except TRANSIENT_ERRORS:
        return _error(503, "cannot check the session cookie now (the bus is away); retry")
    if user is None:
        if key is not None:
            failures.fail(_address(request))
        elif public:
            return await handler(request)
        return _error(
            401, "missing or wrong API key (or an ended session): send Authorization: Bearer <key> or X-API-Key"
        )
    request[AUTH_USER] = user.name
    request[AUTH_ROLE] = keys.role_of(user.name)
    claimed = request.match_info.get("user_id") or request.query.get("user")
    if claimed is not None and claimed != user.name:
        return _error(403, "the user in the request is not the user of the API key")
    if not public:
        # Per user, not per address: many users may share one proxy address. Development mode
        # (loopback only, no users) has no limit.
        wait = request.app[RATE_LIMITER].take(user.name)
        if wait > 0:
            return _error(429, "too many requests; slow down", {"Retry-After": str(max(1, math.ceil(wait)))})
    return await handler(request)


@dataclass(frozen=True)
class _User:
    name: str
    by_cookie: bool


async def _authenticate(request: web.Request, keys: ApiKeys) -> _User | None:
    key = presented_key(request)
    if key is not None:
        user = keys.user_for_key(key)
        return _User(user, False) if user is not None else None
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        user = keys.user_for_session(cookie)
        if user is None or await request.app[REVOKED_SESSIONS].is_revoked(cookie):
            return None
        return _User(user, True)
    return None


async def _add_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    offered = request.headers.get("Sec-WebSocket-Protocol", "")
    if WS_KEY_PROTOCOL in offered:
        # Never echo a key back, whatever protocol the handler selected.
        selected = response.headers.get("Sec-WebSocket-Protocol", "")
        if selected.startswith(WS_KEY_PROTOCOL):
            del response.headers["Sec-WebSocket-Protocol"]


async def post_session(request: web.Request) -> web.Response:
    """Log a browser in: the key in a header, a session cookie back (HttpOnly, SameSite=Strict)."""
    keys = request.app[AUTH_KEYS]
    settings = request.app[SETTINGS]
    user = request.get(AUTH_USER)
    response = web.json_response(_session_body(request))
    if user is not None and presented_key(request) is not None:
        response.set_cookie(
            SESSION_COOKIE,
            keys.session_token(str(user), settings.session_hours),
            max_age=int(settings.session_hours * 3600),
            httponly=True,
            samesite="Strict",
            secure=settings.cookie_secure,
            path="/",
        )
    return response


async def get_session(request: web.Request) -> web.Response:
    return web.json_response(_session_body(request))


def _session_body(request: web.Request) -> dict[str, object]:
    """Who is signed in, whether keys are on, and whether they may do admin things (the console shows
    an admin's controls only to admins; the routes check again). Development mode: the one person is an admin."""
    user = request.get(AUTH_USER)
    keys_on = request.app[AUTH_KEYS].enabled
    return {"user": user, "auth": keys_on, "admin": (user is not None or not keys_on) and caller(request).is_admin}


async def delete_session(request: web.Request) -> web.Response:
    """Log out: the cookie is revoked for every edge (a copy taken before stops working), then cleared."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie and request.app[AUTH_KEYS].user_for_session(cookie) is not None:
        try:
            await request.app[REVOKED_SESSIONS].revoke(cookie)
        except TRANSIENT_ERRORS:
            return _error(503, "could not end the session now (the bus is away); retry")
    response = web.json_response({"user": None})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


def install(app: web.Application) -> None:
    """Register the guard, the headers and the session routes. Refuses a non-loopback host without keys."""
    settings = app[SETTINGS]
    host = settings.host
    keys = ApiKeys.from_settings(settings)
    if not keys.enabled:
        if not is_loopback(host):
            raise InsecureBind(
                f"refusing to serve {host} without authentication: set PAGI_API_KEY or PAGI_API_KEYS "
                "(or bind 127.0.0.1 for development)"
            )
        log.warning("development mode: no PAGI_API_KEY/PAGI_API_KEYS, so no authentication; serving loopback only")
    else:
        log.info("authentication on: %d API key(s) for %d user(s)", len(keys.by_digest), len(keys.by_user))
    app[AUTH_KEYS] = keys
    app[RATE_LIMITER] = RateLimiter(settings.rate_limit_rps, settings.rate_limit_burst)
    app[FAILED_KEYS] = FailureLimiter(settings.auth_failures, settings.auth_failure_window_s)
    app[HOST_ALLOW_LIST] = HostAllowList.from_settings(settings)

    async def open_revoked(app: web.Application) -> AsyncIterator[None]:
        app[REVOKED_SESSIONS] = RevokedSessions(await app[BUS].kv(REVOKED))
        yield

    app.cleanup_ctx.append(open_revoked)
    # Inside the observability middleware, so refusals are counted and traced too.
    app.middlewares.append(guard)
    app.on_response_prepare.append(_add_headers)
    app.router.add_post(SESSION_PATH, post_session)
    app.router.add_get(SESSION_PATH, get_session)
    app.router.add_delete(SESSION_PATH, delete_session)


def retry_after(request: web.Request, caller: str) -> float:
    """Take one token for `caller` (e.g. one WebSocket frame); 0 if allowed, else seconds to wait."""
    limiter = request.app.get(RATE_LIMITER)
    if limiter is None or not request.app[AUTH_KEYS].enabled:
        return 0.0
    return limiter.take(caller)
