"""Turning a person's message into a chat.in event on the bus (shared by WebSocket and HTTP), and the
session check every chat and stream door makes first."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from bus_schemas import ChatIn, Envelope, new_id
from bus_schemas.documents import DocumentRef
from bus_schemas.subjects import CHAT_IN, TOKEN_RE
from pagi.bus import Bus
from pagi.tracing import job_span
from records.access import Caller, Role, may_see_twin, may_use_session
from records.sessions import SessionOwners
from records.twins import TwinStore

from .front.auth import authenticated_user, caller

log = logging.getLogger("edge.sessions")


def session_caller(request: web.Request, claimed: str | None) -> Caller | None:
    """Who opens a session at a chat or stream door. With keys, the key's user and role. In
    development mode names are only claims (two tabs may be two people trying the console), so each
    claimed name keeps its own sessions, as a member: nobody may claim to be an admin over others;
    None when nobody is named (the one person at the machine: nothing to keep apart, as before)."""
    if authenticated_user(request) is not None:
        return caller(request)
    name = claimed or request.headers.get("X-User-Id")
    return Caller(name, "member") if name else None


async def may_enter(owners: SessionOwners, who: Caller, session_id: str) -> bool:
    """May `who` chat in or follow the session (`records.access.may_use_session`)? A session nobody
    owns yet becomes theirs; an unreadable owner record refuses."""
    owner = await owners.claim(session_id, who.user_id)
    if owner is None:
        return False
    allowed = may_use_session(who, owner)
    if allowed and owner != who.user_id:
        log.info("admin %s entered session %s of %s", who.user_id, session_id, owner)
    return allowed


async def path_twin(twins: TwinStore, who: Caller | None, path_user: str) -> str | None:
    """The seed's console names no twin: its backend took the twin from the socket path's user id
    when a twin of that id exists. That twin, if `who` may use it (`records.access.may_see_twin`);
    else None, the default twin, as for anyone else: another user's private twin is never used."""
    if who is None or not TOKEN_RE.fullmatch(path_user):
        return None
    twin = await twins.get_recent(path_user)
    return twin.id if twin is not None and may_see_twin(who, twin.owner) else None


async def publish_chat_in(
    bus: Bus,
    session_id: str,
    message: str,
    user_id: str | None,
    twin_id: str | None,
    namespace: str | None,
    job_id: str | None = None,
    recorded_as: str | None = None,
    trace_label: str | None = None,
    caller_role: Role | None = None,
    attachments: list[DocumentRef] | None = None,
) -> Envelope[Any]:
    """Start a job: its id is the job id every event of the job carries, and its trace starts here.
    `recorded_as` is how a decision this message makes (a seed marker) names its sender;
    `trace_label` is the caller's own trace id (`X-Trace-ID`), kept as given on the opening event;
    `caller_role` tells the planner whether the sender may use other users' private twins;
    `attachments` are the sender's own uploads (edge/uploads.py) offered with the message."""
    job_id = job_id or new_id()
    event = Envelope[ChatIn](
        id=job_id,
        type=CHAT_IN,
        session_id=session_id,
        job_id=job_id,
        twin_id=twin_id,
        trace_label=trace_label,
        body=ChatIn(
            message=message,
            user_id=user_id,
            twin_id=twin_id,
            namespace=namespace,
            recorded_as=recorded_as or user_id,
            caller_role=caller_role,
            attachments=attachments or [],
        ),
    )
    with job_span(session_id, job_id, twin_id):
        await bus.publish(event)
    return event


def recorded_as(request: web.Request, who: Caller) -> str:
    """How a decision by `who` is recorded (`decided_by`): with keys, `Caller.as_recorded` (an admin
    visibly as one); in development mode the name the one person gives."""
    return who.as_recorded if authenticated_user(request) is not None else who.user_id
