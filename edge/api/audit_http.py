"""GET /v1/audit?session=&type=&since=&after_seq=&limit=: the events stream is the audit log.

Every approval request and decision, tool run, build and prompt change is an event; this reads
them back through a filtered consumer, a bounded page at a time, secrets scrubbed. When a page is
full, `next_after_seq` in the answer is the `after_seq` that asks for the next one.

It answers only what the caller may see: one session of theirs (another's is a 404), or, with no
`session` (or `*`), every session of theirs; an admin every session, their read of another's
session recorded in it (`read_access`).
"""

from __future__ import annotations

import contextlib
import re
from datetime import datetime
from typing import Any, Final

from aiohttp import web

from bus_schemas.streams import EVENTS
from bus_schemas.subjects import SubjectError, check_token
from bus_schemas.web import MAX_SEQ
from pagi.bus import TRANSIENT_ERRORS
from pagi.timeline import as_json, check_event_types, entry_of, parse_since, session_filters

from ..appkeys import BUS
from ..front.auth import caller
from .read_access import reader_of_session, visible_sessions

DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1000
_PARAMS: Final = frozenset({"session", "type", "since", "after_seq", "limit"})
_WHOLE: Final = re.compile(r"^-?[0-9]+$")
_MAX_DIGITS: Final = 20
# A member with more sessions than this is read with one filter over all and confined here, not by
# one filter subject per session.
MAX_SESSION_FILTERS: Final = 100


class BadParam(ValueError):
    def __init__(self, field: str, problem: str) -> None:
        super().__init__(problem)
        self.field = field
        self.problem = problem


def _bad(err: BadParam) -> web.Response:
    return web.json_response(
        {"error": f"invalid {err.field}: {err.problem}", "details": [{"field": err.field, "problem": err.problem}]},
        status=400,
    )


def _int(query: Any, name: str, default: int | None, low: int, high: int | None = None) -> int | None:
    text = query.get(name)
    if text is None or text == "":
        return default
    if not _WHOLE.match(text):
        raise BadParam(name, "must be a whole number")
    problem = f"must be between {low} and {high}" if high else f"must be at least {low}"
    # Never int() thousands of digits: a number this long is out of every range here.
    if len(text.lstrip("-")) > _MAX_DIGITS:
        raise BadParam(name, problem)
    value = int(text)
    if value < low or (high is not None and value > high):
        raise BadParam(name, problem)
    return value


async def get_audit(request: web.Request) -> web.Response:
    query = request.query
    try:
        unknown = sorted(set(query) - _PARAMS)
        if unknown:
            raise BadParam(unknown[0], f"unknown parameter; use {', '.join(sorted(_PARAMS))}")
        session = query.get("session") or "*"
        if session != "*":
            try:
                check_token(session)
            except SubjectError:
                raise BadParam("session", "use 1-64 characters of A-Z a-z 0-9 _ -") from None
        try:
            types = check_event_types(query.get("type"))
        except ValueError as exc:
            raise BadParam("type", str(exc)) from None
        try:
            since = parse_since(query["since"]) if query.get("since") else None
        except ValueError as exc:
            raise BadParam("since", str(exc)) from None
        after_seq = _int(query, "after_seq", None, 0, MAX_SEQ)
        limit = _int(query, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT) or DEFAULT_LIMIT
    except BadParam as err:
        return _bad(err)

    if session == "*":
        who = caller(request)
        allowed = await visible_sessions(request, who, "the audit")
    else:
        await reader_of_session(request, session, "the audit")
        allowed = None
    if allowed is not None and not allowed:
        return _answer([], False, session, types, since)
    filters = _filters(session, types, allowed)
    stored = request.app[BUS].read_events(
        EVENTS.name,
        filters,
        start_seq=None if after_seq is None else after_seq + 1,
        start_time=since,
        batch=min(limit + 1, MAX_LIMIT),
    )
    events: list[dict[str, Any]] = []
    more = False
    try:
        async with contextlib.aclosing(stored) as messages:
            async for message in messages:
                entry = entry_of(message, EVENTS.name)
                # Every event subject ends in its session (a dead letter's too).
                if allowed is not None and entry.subject.rsplit(".", 1)[-1] not in allowed:
                    continue
                if len(events) == limit:
                    more = True
                    break
                events.append(as_json(entry))
    except TRANSIENT_ERRORS as exc:
        return web.json_response({"error": f"the events stream is not reachable: {type(exc).__name__}"}, status=503)
    return _answer(events, more, session, types, since)


def _filters(session: str, types: list[str], allowed: set[str] | None) -> list[str]:
    """The stream filter: one session, the caller's sessions (when few enough to name), or all."""
    if allowed is not None and len(allowed) <= MAX_SESSION_FILTERS:
        return [subject for one in sorted(allowed) for subject in session_filters(one, types)]
    return session_filters(session, types) if (session != "*" or types) else list(EVENTS.subjects)


def _answer(
    events: list[dict[str, Any]], more: bool, session: str, types: list[str], since: datetime | None
) -> web.Response:
    return web.json_response(
        {
            "events": events,
            "count": len(events),
            "next_after_seq": events[-1]["seq"] if more else None,
            "filters": {"session": session, "type": types, "since": since.isoformat() if since else None},
        }
    )
