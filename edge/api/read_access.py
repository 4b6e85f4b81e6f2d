"""What a caller may read of history, audit, search and memory, as the read routes ask it.

The rules are `records.access`'s; this turns them into answers: a refusal as its HTTP status, the
sessions a member's wide reads are confined to, and the record an admin's read of someone else's
session leaves behind.

The record is the lightest honest one: a `job.log` line (service `edge`, level `info`) in the read
session itself, saying which admin read what. It is in that session's audit and its live log, so the
owner sees it. A wide read (an admin's audit or global search over every session) is an edge log
line (`edge.access`), since no one session holds it. Development mode (no keys: one person, an
admin) records nothing.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from bus_schemas import Envelope, JobLog
from bus_schemas.subjects import JOB_LOG
from pagi.bus import BusUnavailable
from records.access import Caller, check_session, reads_as_admin

from ..appkeys import BUS, OWNERS
from ..front.auth import authenticated_user, caller

log = logging.getLogger("edge.access")


def keys_mode(request: web.Request) -> bool:
    return authenticated_user(request) is not None


async def reader_of_session(request: web.Request, session_id: str, what: str) -> Caller:
    """The caller, if they may read the session (else `Hidden`); an admin's read of someone else's
    session is recorded in it."""
    who = caller(request)
    owner = await request.app[OWNERS].owner(session_id)
    check_session(who, session_id, owner)
    if reads_as_admin(who, owner) and keys_mode(request):
        await record_admin_read(request, who, session_id, f"read {what} of this session (owner {owner})")
    return who


async def visible_sessions(request: web.Request, who: Caller, what: str) -> set[str] | None:
    """The sessions a wide read may answer from: None (all) for an admin, else the caller's own."""
    if who.is_admin:
        if keys_mode(request):
            log.info("admin %s read %s across every session", who.user_id, what)
        return None
    return await request.app[OWNERS].owned_by(who.user_id)


async def record_admin_read(request: web.Request, who: Caller, session_id: str, what: str) -> None:
    body = JobLog(level="info", service="edge", message=f"admin {who.user_id} {what}")
    event: Envelope[Any] = Envelope[JobLog](type=JOB_LOG, session_id=session_id, body=body)
    log.info("admin %s %s in session %s", who.user_id, what, session_id)
    try:
        await request.app[BUS].publish(event, retry_for_s=3.0)
    except BusUnavailable as exc:
        # An admin's read that could not be recorded is not made: the owner would never know of it.
        problem = f"the read could not be recorded in the session's audit ({exc}); try again"
        raise web.HTTPServiceUnavailable(text=json.dumps({"error": problem}), content_type="application/json") from exc
