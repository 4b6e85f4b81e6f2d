"""Who is calling: API keys (one per user), the identity the edge acts as, and browser session cookies.

Keys come from the environment: `PAGI_API_KEYS="key1:alice:admin,key2:bob"` (`key:user[:role]`, role
`admin` or `member`, the default) and/or `PAGI_API_KEY` (whose user is `PAGI_API_USER`, default
`admin`, with the admin role). With no key at all the edge is in development mode: it serves
loopback only, and the user is who the client says (`X-User-Id`, the WebSocket path), as an admin:
one person at their own machine. What each role may do: `records/access.py`.

A client sends its key as `Authorization: Bearer <key>` or `X-API-Key: <key>`; a browser WebSocket,
which cannot set headers, as the subprotocol `pagi.key.<key>` (never in a query string, which ends up
in logs). A browser that logged in with its key gets a session cookie, so EventSource and WebSocket
work without putting the key in script: an HMAC of user, expiry and a nonce under that user's key, so
any edge behind a load balancer can check it, and rotating the key ends the session; logging out
revokes that one cookie for every edge (edge/front/revoked.py).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from records.access import ROLES, Caller, Role

from ..settings import EdgeSettings

AUTH_USER: Final = web.RequestKey("pagi_auth_user", str)  # the authenticated user id
AUTH_ROLE: Final = web.RequestKey("pagi_auth_role", str)  # the authenticated user's role
SESSION_COOKIE: Final = "pagi_session"
WS_KEY_PROTOCOL: Final = "pagi.key."
WS_PROTOCOL: Final = "pagi"  # the subprotocol the edge selects when a browser offers its key


class KeyError_(ValueError):
    pass


@dataclass(frozen=True)
class ApiKeys:
    """Key digest -> user, user -> keys (to check session cookies), user -> role."""

    by_digest: dict[str, str]
    by_user: dict[str, list[str]]
    roles: dict[str, Role]

    @property
    def enabled(self) -> bool:
        return bool(self.by_digest)

    @classmethod
    def from_settings(cls, settings: EdgeSettings) -> ApiKeys:
        entries: list[tuple[str, str, Role]] = []
        if settings.api_key is not None and settings.api_key.get_secret_value().strip():
            entries.append((settings.api_key.get_secret_value().strip(), settings.api_user, "admin"))
        if settings.api_keys is not None:
            for number, item in enumerate(settings.api_keys.get_secret_value().split(","), 1):
                if item.strip():
                    entries.append(_entry(number, item.strip()))
        by_digest: dict[str, str] = {}
        by_user: dict[str, list[str]] = {}
        roles: dict[str, Role] = {}
        for key, user, role in entries:
            if len(key) < 16:
                raise KeyError_(f"the API key of user {user!r} is shorter than 16 characters")
            if roles.setdefault(user, role) != role:
                raise KeyError_(f"user {user!r} is given two roles ({roles[user]}, {role})")
            by_digest[_digest(key)] = user
            by_user.setdefault(user, []).append(key)
        return cls(by_digest, by_user, roles)

    def role_of(self, user: str) -> Role:
        return self.roles.get(user, "member")

    def user_for_key(self, key: str) -> str | None:
        return self.by_digest.get(_digest(key))

    def session_token(self, user: str, hours: float, now: float | None = None) -> str:
        """`user.expires.nonce.mac`: the nonce makes every login its own cookie, so logging out one
        (revoking it) never ends another, even one issued in the same second."""
        expires = int((now or time.time()) + hours * 3600)
        nonce = secrets.token_hex(8)
        return f"{user}.{expires}.{nonce}.{_mac(self.by_user[user][0], user, expires, nonce)}"

    def user_for_session(self, token: str, now: float | None = None) -> str | None:
        rest, _, mac = token.rpartition(".")
        rest, _, nonce = rest.rpartition(".")
        user, _, expires_text = rest.rpartition(".")
        if not user or not nonce or not expires_text.isdigit() or int(expires_text) < (now or time.time()):
            return None
        for key in self.by_user.get(user, []):
            if hmac.compare_digest(_mac(key, user, int(expires_text), nonce), mac):
                return user
        return None


def _entry(number: int, item: str) -> tuple[str, str, Role]:
    """`key:user` or `key:user:role` (a key may itself contain colons: user and role are read from
    the right, and a last part that is not a role is the user)."""
    key, sep, last = item.rpartition(":")
    role: Role = "member"
    if sep and last in ROLES:
        role = "admin" if last == "admin" else "member"
        key, sep, last = key.rpartition(":")
    if not sep or not key or not last:
        # Never echo the item: it holds a key.
        raise KeyError_(f"PAGI_API_KEYS entry {number} is not key:user or key:user:role (role: admin or member)")
    return key, last, role


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _mac(key: str, user: str, expires: int, nonce: str) -> str:
    message = f"pagi-session|{user}|{expires}|{nonce}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


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


def caller(request: web.Request, claimed: str | None = None, default: str = "edge") -> Caller:
    """Who is asking, for `records.access`: the API key's user and role; in development mode (no keys,
    loopback only) the one person at the machine, an admin, under the name the client gives
    (`claimed`, else `X-User-Id`, else `default`)."""
    user = request.get(AUTH_USER)
    if user is not None:
        return Caller(str(user), "admin" if request.get(AUTH_ROLE) == "admin" else "member")
    return Caller(claimed or request.headers.get("X-User-Id") or default, "admin")


def acting_user(request: web.Request, claimed: str | None, default: str = "edge") -> str:
    """Who to record as acting (an approval's `decided_by`): the authenticated user, whatever the body
    claims; in development mode the body's claim, then `X-User-Id`, then `default`."""
    authenticated = request.get(AUTH_USER)
    if authenticated is not None:
        return str(authenticated)
    return claimed or request.headers.get("X-User-Id") or default
