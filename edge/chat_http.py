"""POST /v1/chat: the seed's blocking contract, served by waiting on the job's answer event."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from bus_schemas import ChatOut, Envelope, new_id
from bus_schemas.subjects import CHAT_OUT
from bus_schemas.web import ChatRequest, ChatResponse
from pagi.bus import BusUnavailable

from .appkeys import BUS, HUB, SETTINGS
from .chat_io import publish_chat_in
from .validation import details, error


async def post_chat(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    if request.content_length is not None and request.content_length > settings.max_request_bytes:
        return error(413, f"request body over {settings.max_request_bytes} bytes")
    try:
        chat = ChatRequest.model_validate(json.loads(await request.read()))
    except json.JSONDecodeError as exc:
        return error(400, f"request body is not valid JSON: {exc.msg}")
    except ValidationError as exc:
        return error(400, "invalid chat request", details(exc))

    answer: asyncio.Future[Envelope[Any]] = asyncio.get_running_loop().create_future()
    # Chosen before publishing, so that an answer racing back is recognised.
    job_id = new_id()

    def listener(event: Envelope[Any]) -> None:
        if (
            event.type == CHAT_OUT
            and event.job_id == job_id
            and isinstance(event.body, ChatOut)
            and event.body.is_final
            and not answer.done()
        ):
            answer.set_result(event)

    hub = request.app[HUB]
    await hub.join(chat.session_id, listener)
    try:
        try:
            await publish_chat_in(
                request.app[BUS],
                chat.session_id,
                chat.message,
                chat.user_id,
                chat.twin_id,
                chat.namespace,
                job_id,
            )
        except BusUnavailable as exc:
            return error(503, f"message not accepted: {exc}")
        try:
            event = await asyncio.wait_for(answer, settings.chat_timeout_s)
        except TimeoutError:
            return web.json_response(
                {
                    "status": "timeout",
                    "job_id": job_id,
                    "error": f"no answer within {settings.chat_timeout_s}s",
                },
                status=504,
            )
    finally:
        await hub.leave(chat.session_id, listener)
    body: ChatOut = event.body
    response = ChatResponse(
        response=body.content,
        job_id=job_id,
        actions_taken=body.actions_taken,
        status=body.status,
        issued_command=body.issued_command,
        raw_orchestrator_decision=body.raw_orchestrator_decision,
    )
    return web.json_response(response.model_dump())
