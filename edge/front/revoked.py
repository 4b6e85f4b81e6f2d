"""Logged-out browser session cookies, revoked for every edge: a cookie copied before logout stops
working at once, not when it expires. Kept in the `pagi_revoked` bucket by digest (never the cookie
itself), for as long as a cookie may live (`bus_schemas.streams.REVOKED`)."""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from pagi.stores import KVStore


def _key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class RevokedSessions:
    def __init__(self, bucket: KVStore, cache_size: int = 10_000) -> None:
        self._bucket = bucket
        # A revocation never ends before the cookie does, so remembering one never goes stale.
        self._known: OrderedDict[str, None] = OrderedDict()
        self._cache_size = cache_size

    async def revoke(self, token: str) -> None:
        key = _key(token)
        await self._bucket.put(key, b"revoked")
        self._remember(key)

    async def is_revoked(self, token: str) -> bool:
        key = _key(token)
        if key in self._known:
            return True
        if await self._bucket.get(key) is None:
            return False  # not cached: another edge may revoke it later
        self._remember(key)
        return True

    def _remember(self, key: str) -> None:
        self._known[key] = None
        if len(self._known) > self._cache_size:
            self._known.popitem(last=False)
