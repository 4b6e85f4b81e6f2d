"""GET /v1/events/stream?session=<id>[&user=<id>]: every event of one session as SSE.

The replay comes first (from `Last-Event-ID` / `?after=`, else from the session's start), then a
`caught_up` event, then live events. Each event's `id` is its stream sequence.
"""

from __future__ import annotations

import logging

from aiohttp import web

from bus_schemas.streams import EVENTS
from bus_schemas.subjects import SubjectError, check_token, one_session
from bus_schemas.web import CaughtUp

from ..appkeys import BUS, HUB, OWNERS, SETTINGS, STREAMS
from ..chat_in import may_enter, session_caller
from .follower import Follower
from .frames import sse_bytes, sse_event
from .replay import history
from .sse import UNAVAILABLE, BadStreamRequest, SseStream, claimed_user, resume_point

log = logging.getLogger("edge.sse")


async def check_resume_point(request: web.Request, stream: str, after: int) -> None:
    state = await request.app[BUS].stream_state(stream)
    if state is None:
        raise BadStreamRequest(503, "the event store is not reachable; retry")
    if after > state.last_seq:
        raise BadStreamRequest(
            400, f"resume point {after} is beyond the stream's last sequence {state.last_seq}; start over from 0"
        )


async def events_stream(request: web.Request) -> web.StreamResponse:
    try:
        session_id = check_token(request.query.get("session", ""))
    except SubjectError as exc:
        return BadStreamRequest(400, f"session: {exc}").response()
    try:
        user_id = claimed_user(request)
        after = resume_point(request) or 0
        await check_resume_point(request, EVENTS.name, after)
        who = session_caller(request, user_id)
        if who is not None and not await may_enter(request.app[OWNERS], who, session_id):
            raise BadStreamRequest(403, f"session {session_id} belongs to another user")
    except BadStreamRequest as bad:
        return bad.response()

    settings = request.app[SETTINGS]
    stream = SseStream(request, settings.sse_queue_size, settings.sse_ping_s)
    follower = Follower(stream.outbox, sse_event, after_seq=after, replaying=True)
    hub = request.app[HUB]
    streams = request.app[STREAMS]
    await stream.open()
    streams.add(stream.outbox)
    try:
        try:
            await hub.follow(session_id, follower.on_live)
            replayed = await follower.replay(
                history(request.app[BUS], EVENTS.name, one_session(session_id), after_seq=after),
                settings.replay_put_timeout_s,
            )
        except Exception as exc:
            log.warning("could not follow session %s: %s", session_id, exc)
            stream.outbox.end(UNAVAILABLE)
        else:
            caught_up = CaughtUp(replayed=replayed, last_seq=follower.last_seq)
            stream.outbox.offer(sse_bytes(caught_up.model_dump_json(), event="caught_up"))
        await stream.run()
    finally:
        streams.discard(stream.outbox)
        await hub.unfollow(session_id, follower.on_live)
        await stream.close()
    return stream.response
