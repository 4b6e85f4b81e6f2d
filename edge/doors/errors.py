"""Refusals in each door's own error shape, wherever they are made.

A door raises `DoorRefused` (from the core, `edge/doors/job_run.py`, or its own checks). Many refusals
are made BEFORE a door's handler runs: the front door's 401 for a bad key, 429 rate limits, 413, 421,
415, a route rule's 403 (edge/front/security.py), aiohttp's own 404/405 for a path or method nobody
serves. Those come out in PAGI's shape (`{"error": "<text>"}`, bus_schemas.web.ErrorResponse), which an
OpenAI or JSON-RPC client cannot read. So one middleware, installed outermost (edge/app.py), asks
which door a path belongs to (`register_format(app, prefixes, formatter)`) and turns, for that door's
paths only:

- a `DoorRefused` a handler raised,
- an `aiohttp` HTTP error raised under it (404 route, 405, 413),
- a response in PAGI's error shape (a JSON object whose `error` is a string),

into the door's shape, keeping the status and the `Retry-After`/`WWW-Authenticate` headers. A
response already in the door's shape (OpenAI's and JSON-RPC's `error` is an object) passes as it is.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web
from aiohttp.typedefs import Handler

from bus_schemas.web import ErrorResponse
from pagi.bus import TRANSIENT_ERRORS, BusUnavailable

KEPT_HEADERS: Final = ("Retry-After", "WWW-Authenticate", "Allow")
# What a publish raises when the bus did not take it: a 503, retry.
NOT_ACCEPTED: Final[tuple[type[BaseException], ...]] = (BusUnavailable, *TRANSIENT_ERRORS)


class DoorRefused(Exception):
    """A refusal a door maps to its own error shape; `status` in HTTP terms (400, 401, 403, 404, 409,
    410, 429, 503, 504). `job_id` when a job exists (a 504: the job goes on); `retry_after_s` for 429."""

    def __init__(
        self, status: int, message: str, *, job_id: str | None = None, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.job_id = job_id
        self.retry_after_s = retry_after_s

    @property
    def headers(self) -> dict[str, str]:
        if self.retry_after_s is None:
            return {}
        return {"Retry-After": str(max(1, int(self.retry_after_s + 0.999)))}


_HTTP_ERRORS: Final[dict[int, type[web.HTTPException]]] = {
    400: web.HTTPBadRequest,
    401: web.HTTPUnauthorized,
    403: web.HTTPForbidden,
    404: web.HTTPNotFound,
    409: web.HTTPConflict,
    410: web.HTTPGone,
    413: web.HTTPRequestEntityTooLarge,
    429: web.HTTPTooManyRequests,
    503: web.HTTPServiceUnavailable,
    504: web.HTTPGatewayTimeout,
}


def pagi_error(refused: DoorRefused) -> web.HTTPException:
    """The refusal in PAGI's own shape (bus_schemas.web.ErrorResponse), for PAGI's HTTP API."""
    body = ErrorResponse(error=refused.message, details=[]).model_dump_json()
    kind = _HTTP_ERRORS.get(refused.status, web.HTTPInternalServerError)
    if kind is web.HTTPRequestEntityTooLarge:
        return web.HTTPRequestEntityTooLarge(0, 0, text=body, content_type="application/json")
    return kind(text=body, content_type="application/json", headers=refused.headers or None)


# Builds the door's error response for (request, status, message).
Formatter = Callable[[web.Request, int, str], web.StreamResponse]


@dataclass(frozen=True)
class DoorFormat:
    door: str
    prefixes: tuple[str, ...]
    formatter: Formatter

    def covers(self, path: str) -> bool:
        return any(path == p.rstrip("/") or path.startswith(p) for p in self.prefixes)


FORMATS: Final = web.AppKey("door_error_formats", list[DoorFormat])


def register_format(app: web.Application, door: str, prefixes: tuple[str, ...], formatter: Formatter) -> None:
    """Answer refusals on paths starting with any of `prefixes` (a prefix ending in "/" also covers
    the path without it) with `formatter`. Call from the door's `register(app)`."""
    app.setdefault(FORMATS, []).append(DoorFormat(door, prefixes, formatter))


def format_for(request: web.Request) -> DoorFormat | None:
    for door_format in request.app.get(FORMATS, []):
        if door_format.covers(request.path):
            return door_format
    return None


def pagi_message(response: web.StreamResponse) -> str | None:
    """The text of a response in PAGI's error shape, else None (another shape, or not JSON)."""
    if not isinstance(response, web.Response) or response.content_type != "application/json":
        return None
    raw = response.body
    if not isinstance(raw, bytes | bytearray):
        return None
    try:
        body: Any = json.loads(raw)
    except ValueError:
        return None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return None


def _http_message(exc: web.HTTPException) -> str:
    text = exc.text or ""
    if exc.content_type == "application/json":
        try:
            body: Any = json.loads(text)
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            return str(body["error"])
    # aiohttp's own ("404: Not Found") says little more than the status.
    return text if text and not text.startswith(f"{exc.status}:") else (exc.reason or f"HTTP {exc.status}")


def _with_headers(response: web.StreamResponse, headers: Any) -> web.StreamResponse:
    for name in KEPT_HEADERS:
        if headers is not None and name in headers and name not in response.headers:
            response.headers[name] = headers[name]
    return response


@web.middleware
async def door_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    door_format = format_for(request)
    if door_format is None:
        return await handler(request)
    try:
        response = await handler(request)
    except DoorRefused as refused:
        return _with_headers(door_format.formatter(request, refused.status, refused.message), refused.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _with_headers(door_format.formatter(request, exc.status, _http_message(exc)), exc.headers)
    if response.status >= 400 and not response.prepared:
        message = pagi_message(response)
        if message is not None:
            return _with_headers(door_format.formatter(request, response.status, message), response.headers)
    return response


def install(app: web.Application) -> None:
    """Outermost, so refusals made by every other middleware pass through it."""
    app.setdefault(FORMATS, [])
    app.middlewares.insert(0, door_errors)
