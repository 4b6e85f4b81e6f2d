"""GET /ws/chat/{user_id}: the seed's chat WebSocket protocol over the bus."""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import WSMsgType, web
from pydantic import ValidationError

from bus_schemas import Envelope
from bus_schemas.web import StatusUpdate, WsClientMessage
from pagi.bus import BusUnavailable

from .appkeys import BUS, HUB, SETTINGS, SOCKETS
from .chat_io import publish_chat_in
from .client_socket import ClientSocket
from .frames import frame_for
from .validation import describe

log = logging.getLogger("edge.ws")

MAX_FRAME_BYTES = 64 * 1024


async def chat_socket(request: web.Request) -> web.WebSocketResponse:
    user_id = request.match_info["user_id"]
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME_BYTES)
    await ws.prepare(request)
    client = ClientSocket(ws, user_id, request.app[SETTINGS].ws_queue_size)
    client.start()
    sockets = request.app[SOCKETS]
    sockets.add(client)
    hub = request.app[HUB]

    def listener(event: Envelope[Any]) -> None:
        frame = frame_for(event)
        if frame is not None:
            client.send(frame)

    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await _on_text(request, client, listener, msg.data)
            elif msg.type == WSMsgType.BINARY:
                client.send(StatusUpdate(status="error", details="binary frames are not supported; send JSON text"))
            elif msg.type == WSMsgType.ERROR:
                log.info("socket error for %s: %s", user_id, ws.exception())
    finally:
        sockets.discard(client)
        for session_id in client.sessions:
            await hub.leave(session_id, listener)
        await client.stop_writer()
    return ws


async def _on_text(request: web.Request, client: ClientSocket, listener: Any, data: str) -> None:
    try:
        message = WsClientMessage.model_validate(json.loads(data))
    except json.JSONDecodeError as exc:
        client.send(StatusUpdate(status="error", details=f"frame is not valid JSON: {exc.msg}"))
        return
    except ValidationError as exc:
        client.send(StatusUpdate(status="error", details=f"invalid message: {describe(exc)}"))
        return
    if message.user_id != client.user_id:
        client.send(
            StatusUpdate(
                status="error",
                details=f"user_id {message.user_id!r} does not match this socket's user {client.user_id!r}",
                session_id=message.session_id,
            )
        )
        return
    if message.session_id not in client.sessions:
        await request.app[HUB].join(message.session_id, listener)
        client.sessions.add(message.session_id)
    try:
        event = await publish_chat_in(
            request.app[BUS],
            message.session_id,
            message.message,
            message.user_id,
            message.twin_id,
            message.namespace,
        )
    except BusUnavailable as exc:
        client.send(StatusUpdate(status="error", details=f"message not accepted: {exc}", session_id=message.session_id))
        return
    client.send(
        StatusUpdate(status="queued", details="message accepted", session_id=event.session_id, job_id=event.job_id)
    )
