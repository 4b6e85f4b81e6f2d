"""Which web page may talk to the edge, by the `Origin` a browser sends.

Three kinds of page:
- the edge's own (its Origin names the edge's Host, already checked against the allow-list);
- an origin the operator listed in `PAGI_ALLOWED_ORIGINS`;
- in development mode only (no API keys, loopback bind), any loopback page (`http://localhost:3000`,
  `http://127.0.0.1:5173`): a console the person runs beside PAGI, as the seed's is deployed.
  A page on any other name (a site on the internet, a DNS-rebound name) is never one of these.

Writes accept only the first two (`may_write`); the chat WebSocket and the cross-origin reads that
answer with CORS (`may_read_across`) accept all three.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

from aiohttp import web

from ..appkeys import AUTH_KEYS, SETTINGS
from .hosts import is_loopback

ORIGIN_SETTING: Final = "PAGI_ALLOWED_ORIGINS"


def _netloc(origin: str) -> str | None:
    try:
        parts = urlsplit(origin)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return None
    return parts.netloc.lower() or None


def _own_or_listed(request: web.Request, origin: str) -> bool:
    if origin.rstrip("/") in request.app[SETTINGS].origins:
        return True
    # The Host is already known to be the edge's, so a page whose origin names it is the edge's own.
    return _netloc(origin) == request.host.lower()


def is_loopback_origin(origin: str) -> bool:
    try:
        parts = urlsplit(origin)
        hostname = parts.hostname
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and hostname is not None and is_loopback(hostname)


def may_write(request: web.Request) -> bool:
    """A browser names the page that sent the request: it must be the edge's own or a listed one.
    No Origin and no `Sec-Fetch-Site: cross-site`: not a browser page (curl, an SDK), which is fine."""
    origin = request.headers.get("Origin")
    if origin is None:
        return request.headers.get("Sec-Fetch-Site", "").lower() != "cross-site"
    return _own_or_listed(request, origin)


def may_read_across(request: web.Request) -> bool:
    """As `may_write`, and in development mode a loopback page too."""
    if may_write(request):
        return True
    origin = request.headers.get("Origin")
    return origin is not None and not request.app[AUTH_KEYS].enabled and is_loopback_origin(origin)


def refusal(request: web.Request, what: str) -> str:
    """Why `what` was refused to this page, naming the setting that would allow it."""
    if request.app[AUTH_KEYS].enabled:
        return f"this Origin may not {what} here: add it to {ORIGIN_SETTING}"
    return f"this Origin may not {what} here: only this edge's pages, loopback pages, or {ORIGIN_SETTING}"
