"""POST /v1/chat: the seed's blocking contract, served by waiting on the job's answer event."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from bus_schemas import ChatOut, Envelope, new_id
from bus_schemas.subjects import CHAT_OUT
from bus_schemas.web import ChatRequest, ChatResponse
from pagi.bus import BusUnavailable
from records.access import Role

from ..appkeys import BUS, HUB, OWNERS, SETTINGS
from ..chat_in import may_enter, publish_chat_in, recorded_as, session_caller
from ..front.auth import acting_user
from ..front.observability import recorded_trace_label
from ..validation import error, forbidden, read_model, unavailable


class JobTimeout(Exception):
    def __init__(self, job_id: str, timeout_s: float) -> None:
        super().__init__(f"no answer within {timeout_s}s")
        self.job_id = job_id


async def run_chat(
    app: web.Application,
    session_id: str,
    message: str,
    user_id: str | None,
    twin_id: str | None,
    namespace: str | None = None,
    recorded_as: str | None = None,
    trace_label: str | None = None,
    caller_role: Role | None = None,
) -> Envelope[Any]:
    """Start a job and wait (bounded) for its final `chat.out`: the answer, or the question asking
    for approval. Raises BusUnavailable when the message was not accepted, JobTimeout after
    PAGI_CHAT_TIMEOUT_S (the job goes on)."""
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

    hub = app[HUB]
    timeout_s = app[SETTINGS].chat_timeout_s
    await hub.join(session_id, listener)
    try:
        await publish_chat_in(
            app[BUS], session_id, message, user_id, twin_id, namespace, job_id, recorded_as, trace_label, caller_role
        )
        try:
            return await asyncio.wait_for(answer, timeout_s)
        except TimeoutError as exc:
            raise JobTimeout(job_id, timeout_s) from exc
    finally:
        await hub.leave(session_id, listener)


async def chat_as_caller(
    request: web.Request,
    session_id: str,
    message: str,
    twin_id: str | None = None,
    namespace: str | None = None,
    claimed_user: str | None = None,
    anonymous_as_edge: bool = False,
) -> Envelope[Any]:
    """A chat door: the caller (`edge.chat_in.session_caller`) may use the session, then the job runs as
    them and its answer is awaited. In development mode with nobody named, a decision the message makes
    (a seed marker) is recorded as the edge when `anonymous_as_edge`, else as nobody (it decides
    nothing). Raises a JSON HTTP error: 403 another user's session, 503 not accepted, 504 no answer
    in time (the job goes on)."""
    who = session_caller(request, claimed_user)
    if who is not None and not await may_enter(request.app[OWNERS], who, session_id):
        raise forbidden(f"session {session_id} belongs to another user")
    # A twin the caller may not see is the planner's to answer like an unknown one (the default twin,
    # the same job-log line), so no answer here tells the two apart (planner/chat_in.py).
    if who is not None:
        recorded: str | None = recorded_as(request, who)
    else:
        recorded = acting_user(request, None) if anonymous_as_edge else None
    try:
        return await run_chat(
            request.app,
            session_id,
            message,
            who.user_id if who else None,
            twin_id,
            namespace,
            recorded_as=recorded,
            trace_label=recorded_trace_label(request),
            caller_role=who.role if who else None,
        )
    except BusUnavailable as exc:
        raise unavailable(f"message not accepted: {exc}") from None
    except JobTimeout as exc:
        timeout = {"status": "timeout", "job_id": exc.job_id, "session_id": session_id, "error": str(exc)}
        raise web.HTTPGatewayTimeout(text=json.dumps(timeout), content_type="application/json") from None


async def post_chat(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    if request.content_length is not None and request.content_length > settings.max_request_bytes:
        return error(413, f"request body over {settings.max_request_bytes} bytes")
    chat = await read_model(request, ChatRequest)
    event = await chat_as_caller(
        request, chat.session_id, chat.message, chat.twin_id, chat.namespace, claimed_user=chat.user_id
    )
    body: ChatOut = event.body
    response = ChatResponse(
        response=body.content,
        job_id=event.job_id or "",
        actions_taken=body.actions_taken,
        status=body.status,
        issued_command=body.issued_command,
        raw_orchestrator_decision=body.raw_orchestrator_decision,
    )
    return web.json_response(response.model_dump())
