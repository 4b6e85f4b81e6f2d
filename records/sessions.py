"""Who owns a session: the first user to use it, recorded in the `pagi_sessions` bucket.

An owner never changes, so answers are cached (bounded). Every door asks `owner()` /
`claim_or_check()` and then `records.access` whether the caller may use the session.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

from pydantic import ValidationError

from bus_schemas.web import SessionRecord
from pagi.stores import KVStore

log = logging.getLogger("records.sessions")


class SessionOwners:
    def __init__(self, bucket: KVStore, cache_size: int = 100_000) -> None:
        self._bucket = bucket
        # An owner never changes, so a cached answer never goes stale; the bound keeps memory flat.
        self._cache: OrderedDict[str, str] = OrderedDict()
        self._cache_size = cache_size

    async def claim_or_check(self, session_id: str, user_id: str) -> bool:
        """True if `user_id` owns the session, claiming it when nobody does yet (atomically: two
        edges racing for a new session agree on one owner)."""
        owner = await self.claim(session_id, user_id)
        return owner == user_id

    async def claim(self, session_id: str, claimant: str) -> str | None:
        """The session's owner, `claimant` becoming it when nobody owns it yet; None if unreadable."""
        owner = self._cache.get(session_id)
        if owner is None:
            owner = await self._claim(session_id, claimant)
            if owner is not None:
                self._remember(session_id, owner)
        return owner

    async def owner(self, session_id: str) -> str | None:
        """The session's owner, or None when nobody has used it (or its record is unreadable)."""
        owner = self._cache.get(session_id)
        if owner is not None:
            return owner
        found = await self._bucket.get(session_id)
        if found is None:
            return None
        owner = self._parse(session_id, found[0])
        if owner is not None:
            self._remember(session_id, owner)
        return owner

    async def owned_by(self, user_id: str) -> set[str]:
        """Every session `user_id` owns (a scan of the bucket: for reads that filter by owner)."""
        sessions = set()
        for key in await self._bucket.keys():
            if await self.owner(key) == user_id:
                sessions.add(key)
        return sessions

    def _remember(self, session_id: str, owner: str) -> None:
        self._cache[session_id] = owner
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _parse(self, session_id: str, data: bytes) -> str | None:
        try:
            return SessionRecord.model_validate_json(data).owner
        except ValidationError:
            log.warning("session %s has an unreadable owner record; refusing access", session_id)
            return None

    async def _claim(self, session_id: str, claimant: str) -> str | None:
        for _ in range(3):
            if await self._bucket.create(session_id, SessionRecord(owner=claimant).model_dump_json().encode()):
                return claimant
            found = await self._bucket.get(session_id)
            if found is None:
                continue  # deleted between our create and get: try to claim again
            return self._parse(session_id, found[0])
        return None
