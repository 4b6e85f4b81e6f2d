"""POST /v1/chat: the seed's blocking contract, served by waiting on the job's answer event. PAGI's
`attachments` (ids of documents the caller uploaded, edge/uploads.py) go with the message."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from bus_schemas import ChatOut, Envelope
from bus_schemas.web import ChatRequest, ChatResponse

from ..appkeys import SETTINGS
from ..chat_in import recorded_as, session_caller
from ..doors.errors import DoorRefused, pagi_error
from ..doors.job_run import Finished, WaitingApproval, start_job
from ..front.auth import acting_user
from ..front.observability import recorded_trace_label
from ..uploads import owned_documents, uploader_of
from ..validation import error, read_model

DOOR = "chat"


async def chat_as_caller(
    request: web.Request,
    session_id: str,
    message: str,
    twin_id: str | None = None,
    namespace: str | None = None,
    claimed_user: str | None = None,
    anonymous_as_edge: bool = False,
    attachments: list[str] | None = None,
) -> Envelope[Any]:
    """A chat door: the caller (`edge.chat_in.session_caller`) may use the session, then the job runs as
    them (edge/doors/job_run.py, the path every door takes) and its final `chat.out` is awaited: the
    answer, or the question asking for approval. In development mode with nobody named, a decision the
    message makes (a seed marker) is recorded as the edge when `anonymous_as_edge`, else as nobody (it
    decides nothing). `attachments`: ids of the caller's own uploads. Raises a JSON HTTP error: 400
    bad input (or a document that is not the caller's), 403 another user's session, 503 not
    accepted, 504 no answer within PAGI_CHAT_TIMEOUT_S (the job goes on)."""
    who = session_caller(request, claimed_user)
    if who is not None:
        recorded: str | None = recorded_as(request, who)
    else:
        recorded = acting_user(request, None) if anonymous_as_edge else None
    timeout_s = request.app[SETTINGS].chat_timeout_s
    try:
        documents = await owned_documents(request.app, uploader_of(request, who), attachments or [])
        # A twin the caller may not see is the planner's to answer like an unknown one (the default
        # twin, the same job-log line), so no answer here tells the two apart (planner/chat_in.py).
        run = await start_job(
            request.app,
            who,
            door=DOOR,
            session_id=session_id,
            message=message,
            twin_id=twin_id,
            recorded_as=recorded,
            trace_label=recorded_trace_label(request),
            namespace=namespace,
            check_twin=False,
            attachments=documents,
        )
        async with run:
            async with asyncio.timeout(timeout_s):
                async for event in run.events(timeout_s=timeout_s):
                    if isinstance(event, WaitingApproval | Finished):
                        return event.event
    except DoorRefused as refused:
        if refused.status == 504:
            raise _timeout(refused.job_id or "", session_id, str(refused)) from None
        raise pagi_error(refused) from None
    except TimeoutError:
        raise _timeout(run.job_id, session_id, f"no answer within {timeout_s}s") from None
    raise _timeout(run.job_id, session_id, "the job's events ended without an answer")


def _timeout(job_id: str, session_id: str, message: str) -> web.HTTPGatewayTimeout:
    timeout = {"status": "timeout", "job_id": job_id, "session_id": session_id, "error": message}
    return web.HTTPGatewayTimeout(text=json.dumps(timeout), content_type="application/json")


async def post_chat(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    if request.content_length is not None and request.content_length > settings.max_request_bytes:
        return error(413, f"request body over {settings.max_request_bytes} bytes")
    chat = await read_model(request, ChatRequest)
    event = await chat_as_caller(
        request,
        chat.session_id,
        chat.message,
        chat.twin_id,
        chat.namespace,
        claimed_user=chat.user_id,
        attachments=chat.attachments,
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
