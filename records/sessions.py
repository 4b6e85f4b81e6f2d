"""Who owns a session: the first user to use it, recorded in the `pagi_sessions` bucket.

An owner never changes, so answers are cached (bounded). Every door asks `owner()` /
`claim_or_check()` and then `records.access` whether the caller may use the session.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bus_schemas.web import SessionRecord
from pagi.stores import KVMirror, KVStore

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


class SessionTwin(BaseModel):
    """A session handed to another twin (ActionHandoff): messages to any twin it was handed from (or
    to no twin) go to `twin_id`."""

    model_config = ConfigDict(extra="forbid")

    twin_id: str
    handed_from: list[str] = Field(default_factory=list)
    job_id: str
    at: datetime


def session_twin_key(session_id: str) -> str:
    # Three tokens: never a job's key (`<session>.<job>`) nor its waiting index (`<session>.<job>.waiting`).
    return f"{session_id}.handoff.twin"


# Every session's handoff record (session_twin_key), for a mirror of them all.
SESSION_TWIN_KEYS = "*.handoff.twin"


class SessionTwins:
    """Which twin a session talks to after a handoff, kept in the jobs bucket (the planner writes only
    its own buckets; the edge already reads this one). With a `mirror` of SESSION_TWIN_KEYS every
    message's lookup is a dictionary read while the mirror is in step, instead of a round trip."""

    def __init__(self, bucket: KVStore, mirror: KVMirror | None = None) -> None:
        self._bucket = bucket
        self._mirror = mirror

    async def get(self, session_id: str) -> SessionTwin | None:
        key = session_twin_key(session_id)
        if self._mirror is not None and self._mirror.ready:
            data = self._mirror.get(key)
        else:
            found = await self._bucket.get(key)
            data = None if found is None else found[0]
        if data is None:
            return None
        try:
            return SessionTwin.model_validate_json(data)
        except ValidationError:
            log.warning("session %s has an unreadable handoff record; ignored", session_id)
            return None

    async def current(self, session_id: str, asked: str | None) -> str | None:
        """The twin a message asking `asked` goes to: the handed-to twin when `asked` is one the
        session was handed from (or None), else `asked`."""
        handed = await self.get(session_id)
        if handed is None or (asked is not None and asked not in handed.handed_from):
            return asked
        return handed.twin_id

    async def hand_off(self, session_id: str, from_twin: str, to_twin: str, job_id: str, at: datetime) -> SessionTwin:
        before = await self.get(session_id)
        handed_from = [t for t in (before.handed_from if before else []) if t != to_twin]
        if from_twin not in handed_from:
            handed_from.append(from_twin)
        record = SessionTwin(twin_id=to_twin, handed_from=handed_from, job_id=job_id, at=at)
        value = record.model_dump_json().encode()
        await self._bucket.put(session_twin_key(session_id), value)
        if self._mirror is not None:
            self._mirror.note(session_twin_key(session_id), value)
        return record
