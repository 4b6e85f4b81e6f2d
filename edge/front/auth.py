"""Who is calling: API keys (one per user), the identity the edge acts as, and browser session cookies.

Keys come from the environment: `PAGI_API_KEYS="key1:alice,key2:bob"` and/or `PAGI_API_KEY` (whose
user is `PAGI_API_USER`, default `admin`). With no key at all the edge is in development mode: it
serves loopback only, and the user is who the client says (`X-User-Id`, the WebSocket path).

A client sends its key as `Authorization: Bearer <key>` or `X-API-Key: <key>`; a browser WebSocket,
which cannot set headers, as the subprotocol `pagi.key.<key>` (never in a query string, which ends up
in logs). A browser that logged in with its key gets a session cookie, so EventSource and WebSocket
work without putting the key in script: an HMAC of user and expiry under that user's key, so any edge
behind a load balancer can check it, and rotating the key ends the session.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from ..settings import EdgeSettings

AUTH_USER: Final = web.RequestKey("pagi_auth_user", str)  # the authenticated user id
SESSION_COOKIE: Final = "pagi_session"
WS_KEY_PROTOCOL: Final = "pagi.key."
WS_PROTOCOL: Final = "pagi"  # the subprotocol the edge selects when a browser offers its key


class KeyError_(ValueError):
    pass


@dataclass(frozen=True)
class ApiKeys:
    """Key digest -> user, and user -> keys (to check session cookies)."""

    by_digest: dict[str, str]
    by_user: dict[str, list[str]]

    @property
    def enabled(self) -> bool:
        return bool(self.by_digest)

    @classmethod
    def from_settings(cls, settings: EdgeSettings) -> ApiKeys:
        pairs: list[tuple[str, str]] = []
        if settings.api_key is not None and settings.api_key.get_secret_value().strip():
            pairs.append((settings.api_key.get_secret_value().strip(), settings.api_user))
        if settings.api_keys is not None:
            for number, item in enumerate(settings.api_keys.get_secret_value().split(","), 1):
                if not item.strip():
                    continue
                key, sep, user = item.strip().rpartition(":")
                if not sep or not key or not user:
                    # Never echo the item: it holds a key.
                    raise KeyError_(f"PAGI_API_KEYS entry {number} is not key:user")
                pairs.append((key, user))
        by_digest: dict[str, str] = {}
        by_user: dict[str, list[str]] = {}
        for key, user in pairs:
            if len(key) < 16:
                raise KeyError_(f"the API key of user {user!r} is shorter than 16 characters")
            by_digest[_digest(key)] = user
            by_user.setdefault(user, []).append(key)
        return cls(by_digest, by_user)

    def user_for_key(self, key: str) -> str | None:
        return self.by_digest.get(_digest(key))

    def session_token(self, user: str, hours: float, now: float | None = None) -> str:
        expires = int((now or time.time()) + hours * 3600)
        return f"{user}.{expires}.{_mac(self.by_user[user][0], user, expires)}"

    def user_for_session(self, token: str, now: float | None = None) -> str | None:
        user, _, rest = token.rpartition(".")
        user, _, expires_text = user.rpartition(".")
        if not user or not expires_text.isdigit() or int(expires_text) < (now or time.time()):
            return None
        for key in self.by_user.get(user, []):
            if hmac.compare_digest(_mac(key, user, int(expires_text)), rest):
                return user
        return None


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _mac(key: str, user: str, expires: int) -> str:
    return hmac.new(key.encode(), f"pagi-session|{user}|{expires}".encode(), hashlib.sha256).hexdigest()


def presented_key(request: web.Request) -> str | None:
    """The key a request carries in a header (or, for a WebSocket, a subprotocol); None if none."""
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    if request.headers.get("X-API-Key"):
        return request.headers["X-API-Key"].strip()
    for protocol in request.headers.get("Sec-WebSocket-Protocol", "").split(","):
        if protocol.strip().startswith(WS_KEY_PROTOCOL):
            return protocol.strip()[len(WS_KEY_PROTOCOL) :]
    return None


def authenticated_user(request: web.Request) -> str | None:
    """The API key's user, or None in development mode."""
    user = request.get(AUTH_USER)
    return None if user is None else str(user)


def acting_user(request: web.Request, claimed: str | None, default: str = "edge") -> str:
    """Who to record as acting (an approval's `decided_by`): the authenticated user, whatever the body
    claims; in development mode the body's claim, then `X-User-Id`, then `default`."""
    authenticated = request.get(AUTH_USER)
    if authenticated is not None:
        return str(authenticated)
    return claimed or request.headers.get("X-User-Id") or default
