"""Who may watch a session: its owner, the first user to use it, recorded in the `pagi_sessions` bucket.

The user is the API key's user when keys are configured (edge/auth.py); in development mode, who
the client says (the WebSocket path's user id, the SSE `user` parameter or `X-User-Id` header).
"""

from __future__ import annotations

import logging
from collections import OrderedDict

from pydantic import ValidationError

from bus_schemas.web import SessionRecord
from pagi.stores import KVStore

log = logging.getLogger("edge.owners")


class SessionOwners:
    def __init__(self, bucket: KVStore, cache_size: int = 100_000) -> None:
        self._bucket = bucket
        # An owner never changes, so a cached answer never goes stale; the bound keeps memory flat.
        self._cache: OrderedDict[str, str] = OrderedDict()
        self._cache_size = cache_size

    async def claim_or_check(self, session_id: str, user_id: str) -> bool:
        """True if `user_id` owns the session, claiming it when nobody does yet (atomically: two
        edges racing for a new session agree on one owner)."""
        owner = self._cache.get(session_id)
        if owner is None:
            owner = await self._owner(session_id, user_id)
            if owner is None:
                return False
            self._cache[session_id] = owner
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return owner == user_id

    async def _owner(self, session_id: str, claimant: str) -> str | None:
        for _ in range(3):
            if await self._bucket.create(session_id, SessionRecord(owner=claimant).model_dump_json().encode()):
                return claimant
            found = await self._bucket.get(session_id)
            if found is None:
                continue  # deleted between our create and get: try to claim again
            try:
                return SessionRecord.model_validate_json(found[0]).owner
            except ValidationError:
                log.warning("session %s has an unreadable owner record; refusing access", session_id)
                return None
        return None
