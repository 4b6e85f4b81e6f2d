"""GET /ws/chat/{user_id}: the seed's chat WebSocket protocol over the bus, with resume.

Client frames:
- a message `{session_id, user_id, timestamp, message, twin_id?, resume_from?, attachments?}` (the
  seed's; `attachments` are ids of the sender's own uploads, edge/uploads.py), which
  follows the session (replaying after `resume_from` first, if given) and publishes `chat.in`; with no
  `twin_id`, the twin named by the path's user id if there is one the caller may use (as the seed
  did), else the default;
- `{type: "resume", session_id, user_id, resume_from?}`, which only follows the session: the events
  after `resume_from` (0 = all), a `status_update: resumed`, then live; without `resume_from`, live
  from now on after a `status_update: subscribed`.

Server frames: the seed's sparse protocol (`complete_message`, `message_chunk`, `status_update` for
errors only) unless the client offers the `pagi.frames.verbose` subprotocol, which adds every status
(`queued`, `thinking`, `subscribed`, `resumed`, job log lines) and an `event` frame for every other
event (`bus_schemas.web.VERBOSE_FRAMES_PROTOCOL`). Every frame caused by an event carries `seq`, its
stream sequence: the client keeps the last one.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from aiohttp import WSMsgType, web
from pydantic import ValidationError

from bus_schemas.safe_json import PayloadError, loads_json
from bus_schemas.streams import EVENTS
from bus_schemas.subjects import one_session
from bus_schemas.web import VERBOSE_FRAMES_PROTOCOL, StatusUpdate, WsClientMessage, WsResume
from pagi.bus import BusUnavailable

from ..appkeys import BUS, HUB, OWNERS, SETTINGS, SOCKETS, STATE
from ..chat_in import may_enter, path_twin, publish_chat_in, recorded_as, session_caller
from ..doors.errors import DoorRefused
from ..front.auth import WS_PROTOCOL
from ..front.security import retry_after
from ..uploads import owned_documents
from ..validation import describe
from .client_socket import ClientSocket
from .follower import Follower
from .frames import sparse_ws_text, ws_text
from .replay import history

log = logging.getLogger("edge.ws")

MAX_FRAME_BYTES = 64 * 1024


async def chat_socket(request: web.Request) -> web.WebSocketResponse:
    user_id = request.match_info["user_id"]
    verbose = VERBOSE_FRAMES_PROTOCOL in _offered_protocols(request)
    # A browser offers its key as a subprotocol next to "pagi"; the edge selects "pagi" (edge/auth.py),
    # or the verbose frames' protocol, whichever the client lists first.
    protocols = (WS_PROTOCOL, VERBOSE_FRAMES_PROTOCOL)
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME_BYTES, protocols=protocols)
    await ws.prepare(request)
    client = ClientSocket(ws, user_id, request.app[SETTINGS].ws_queue_size, request.transport, verbose=verbose)
    client.start()
    sockets = request.app[SOCKETS]
    sockets.add(client)
    hub = request.app[HUB]
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await _on_text(request, client, msg.data)
            elif msg.type == WSMsgType.BINARY:
                client.send(StatusUpdate(status="error", details="binary frames are not supported; send JSON text"))
            elif msg.type == WSMsgType.ERROR:
                log.info("socket error for %s: %s", user_id, ws.exception())
    finally:
        sockets.discard(client)
        for session_id, follower in list(client.follows.items()):
            await hub.unfollow(session_id, follower.on_live)
        await client.stop_writer()
    return ws


def _offered_protocols(request: web.Request) -> set[str]:
    return {p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()}


def _parse(data: str) -> WsClientMessage | WsResume:
    raw: Any = loads_json(data, what="frame", max_bytes=MAX_FRAME_BYTES)
    if isinstance(raw, dict) and raw.get("type") == "resume":
        return WsResume.model_validate(raw)
    return WsClientMessage.model_validate(raw)


async def _on_text(request: web.Request, client: ClientSocket, data: str) -> None:
    try:
        frame = _parse(data)
    except PayloadError as exc:  # not JSON, too deep: an error frame, and the socket stays open
        client.send(StatusUpdate(status="error", details=exc.reason))
        return
    except ValidationError as exc:
        client.send(StatusUpdate(status="error", details=f"invalid message: {describe(exc)}"))
        return
    session_id = frame.session_id
    wait = retry_after(request, client.user_id)  # the same per-user budget as HTTP requests
    if wait > 0:
        details = f"too many messages: slow down, retry in {math.ceil(wait)} s"
        client.send(StatusUpdate(status="error", details=details, session_id=session_id))
        return
    if frame.user_id != client.user_id:
        client.send(
            StatusUpdate(
                status="error",
                details=f"user_id {frame.user_id!r} does not match this socket's user {client.user_id!r}",
                session_id=session_id,
            )
        )
        return
    who = session_caller(request, client.user_id)  # with keys, the path's user is the key's (edge/front)
    if who is None or not await may_enter(request.app[OWNERS], who, session_id):
        client.send(
            StatusUpdate(status="error", details=f"session {session_id} belongs to another user", session_id=session_id)
        )
        return
    if not await _follow(request, client, session_id, frame.resume_from, announce=isinstance(frame, WsResume)):
        return
    if isinstance(frame, WsResume):
        return
    try:
        documents = await owned_documents(request.app, who.user_id, frame.attachments)
    except DoorRefused as refused:
        client.send(StatusUpdate(status="error", details=refused.message, session_id=session_id))
        return
    twins = request.app[STATE].twins
    twin_id = frame.twin_id or await path_twin(twins, who, client.user_id)
    # A twin the caller may not see is the planner's to answer, exactly as one that does not exist.
    try:
        event = await publish_chat_in(
            request.app[BUS],
            session_id,
            frame.message,
            frame.user_id,
            twin_id,
            frame.namespace,
            recorded_as=recorded_as(request, who),
            caller_role=who.role,
            attachments=documents,
        )
    except BusUnavailable as exc:
        client.send(StatusUpdate(status="error", details=f"message not accepted: {exc}", session_id=session_id))
        return
    client.send(
        StatusUpdate(status="queued", details="message accepted", session_id=event.session_id, job_id=event.job_id)
    )


async def _follow(
    request: web.Request, client: ClientSocket, session_id: str, resume_from: int | None, announce: bool
) -> bool:
    """Make this socket follow the session (once); False when it could not, after telling the client."""
    if session_id in client.follows:
        if announce:
            client.send(StatusUpdate(status="subscribed", details="already following", session_id=session_id))
        return True
    bus = request.app[BUS]
    if resume_from is not None:
        state = await bus.stream_state(EVENTS.name)
        if state is None or resume_from > state.last_seq:
            details = (
                "the event store is not reachable; retry"
                if state is None
                else f"resume_from {resume_from} is beyond the stream's last sequence {state.last_seq}; "
                "start over from 0"
            )
            client.send(StatusUpdate(status="error", details=details, session_id=session_id))
            return False
    render = ws_text if client.verbose else sparse_ws_text
    follower = Follower(client.outbox, render, after_seq=resume_from or 0, replaying=resume_from is not None)
    client.follows[session_id] = follower
    hub = request.app[HUB]
    try:
        await hub.follow(session_id, follower.on_live)
        if resume_from is None:
            if announce:
                client.send(StatusUpdate(status="subscribed", details="live from here", session_id=session_id))
            return True
        replayed = await follower.replay(
            history(bus, EVENTS.name, one_session(session_id), after_seq=resume_from),
            request.app[SETTINGS].replay_put_timeout_s,
        )
    except Exception as exc:
        log.warning("could not follow session %s: %s", session_id, exc)
        del client.follows[session_id]
        await hub.unfollow(session_id, follower.on_live)
        client.send(StatusUpdate(status="error", details="could not follow the session; retry", session_id=session_id))
        return False
    client.send(
        StatusUpdate(
            status="resumed",
            details=f"replayed {replayed} events after {resume_from} up to {follower.last_seq}; live from here",
            session_id=session_id,
        )
    )
    return True
