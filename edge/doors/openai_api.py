"""The OpenAI-compatible door: `GET /v1/models` (the twins the caller may use, one model id per twin:
the twin id), `GET /v1/models/{model}`, and `POST /v1/chat/completions` (a PAGI job for that twin,
whole or streamed), for any OpenAI client pointed at `<edge>/v1` with an edge API key as its key.

Built on the door core (edge/doors/job_run.py: start or follow a job as the caller), so approvals,
policy, audit and trace context are the ones every door has. How a conversation maps to a session and
what the twin is sent: openai_conversation.py; how a job is served, whole or streamed: openai_reply.py;
the error shape: openai_errors.py; the wire shapes: bus_schemas/openai_compat.py.

`temperature` is accepted within a twin's range (0-1.5; above it a 400) but does not change the
twin's sampling: a twin's temperature is its owner's setting, and a chat message carries none.
`max_tokens` must be within the twin's token limit (else a 400) and bounds the answer served.
`user` is kept only as part of a derived session's key (OpenAI's meaning: an end-user label).
"""

from __future__ import annotations

import logging
from typing import Final

from aiohttp import web
from pydantic import ValidationError

from bus_schemas.openai_compat import MAX_TEMPERATURE, ChatCompletionRequest, ModelCard, ModelList
from bus_schemas.safe_json import PayloadError, loads_json
from bus_schemas.subjects import TOKEN_RE
from bus_schemas.twin import Twin
from pagi.bus import TRANSIENT_ERRORS
from records.access import Caller, may_act_in_session, may_see_twin

from ..appkeys import OWNERS, SETTINGS, STATE
from ..chat_in import recorded_as, session_caller
from ..front.auth import caller
from ..front.observability import recorded_trace_label
from ..uploads import uploader_of
from ..validation import describe
from . import errors, openai_conversation, openai_errors, openai_files, openai_reply
from .job_run import JobRun, follow_job, start_job
from .openai_conversation import BadRequest
from .openai_errors import openai_error

log = logging.getLogger("edge.doors.openai")

DOOR: Final = "openai"
PREFIXES: Final = ("/v1/chat/completions", "/v1/models")


def _card(twin: Twin) -> ModelCard:
    return ModelCard(id=twin.id, created=int(twin.created_at.timestamp()), owned_by=twin.owner or "pagi")


async def list_models(request: web.Request) -> web.Response:
    who = caller(request)
    try:
        twins = await request.app[STATE].twins.list()
    except TRANSIENT_ERRORS:
        return openai_error(503, "cannot read the twins now (the bus is away); retry")
    cards = [_card(t) for t in sorted(twins, key=lambda t: t.id) if may_see_twin(who, t.owner)]
    return web.Response(text=ModelList(data=cards).model_dump_json(), content_type="application/json")


async def _visible_twin(request: web.Request, model: str) -> Twin | None:
    if not TOKEN_RE.fullmatch(model):
        return None
    twin = await request.app[STATE].twins.get(model)
    if twin is None or not may_see_twin(caller(request), twin.owner):
        return None  # another user's private twin is answered as missing
    return twin


def _no_model(model: str) -> web.Response:
    shown = model[:64]
    return openai_error(
        404,
        f"The model {shown!r} does not exist or you do not have access to it.",
        code="model_not_found",
        param="model",
    )


async def get_model(request: web.Request) -> web.Response:
    model = request.match_info["model"]
    try:
        twin = await _visible_twin(request, model)
    except TRANSIENT_ERRORS:
        return openai_error(503, "cannot read the twins now (the bus is away); retry")
    if twin is None:
        return _no_model(model)
    return web.Response(text=_card(twin).model_dump_json(), content_type="application/json")


async def _read(request: web.Request) -> tuple[ChatCompletionRequest, list[openai_files.FilePart]]:
    max_bytes = request.app[SETTINGS].max_body_bytes
    raw = await request.read()
    try:
        data = loads_json(raw or b"", what="request body", max_bytes=max_bytes)
    except PayloadError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc.reason}", None) from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object", None)
    try:
        return ChatCompletionRequest.model_validate(data), openai_files.file_parts(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        param = ".".join(str(p) for p in first["loc"]) or None
        raise BadRequest(f"invalid request: {describe(exc)}", param) from None


def _check_limits(body: ChatCompletionRequest, twin: Twin) -> None:
    if body.temperature is not None and body.temperature > MAX_TEMPERATURE:
        raise BadRequest(f"temperature must be between 0 and {MAX_TEMPERATURE} (a twin's range)", "temperature")
    limit = body.max_completion_tokens or body.max_tokens
    if limit is not None and limit > twin.token_limit:
        param = "max_completion_tokens" if body.max_completion_tokens else "max_tokens"
        raise BadRequest(f"{param} must be at most {twin.token_limit}, twin {twin.id}'s token limit", param)


async def chat_completions(request: web.Request) -> web.StreamResponse:
    try:
        return await _chat_completions(request)
    except BadRequest as refused:
        return openai_error(400, refused.message, param=refused.param)
    except TRANSIENT_ERRORS:
        return openai_error(503, "cannot reach the bus now; retry")


async def _chat_completions(request: web.Request) -> web.StreamResponse:
    body, files = await _read(request)
    openai_conversation.check_messages(body)
    openai_files.check(files)
    twin = await _visible_twin(request, body.model)
    if twin is None:
        return _no_model(body.model)
    _check_limits(body, twin)
    who = session_caller(request, None)
    choice = openai_conversation.choose_session(request, body, who)
    owner = None if choice.how == "new" else await request.app[OWNERS].owner(choice.session_id)
    if owner is not None and who is not None and not may_act_in_session(who, owner):
        return openai_error(403, f"session {choice.session_id} belongs to another user", param="session")
    message = openai_conversation.compose_message(body.messages, session_is_new=owner is None)
    run, resumed = await _run(request, who, twin, choice.session_id, message, body, files, known=owner is not None)
    reply = openai_reply.Reply(
        run=run,
        model=twin.id,
        prompt=message,
        max_tokens=body.max_completion_tokens or body.max_tokens,
        include_usage=bool(body.stream_options and body.stream_options.include_usage),
        resumed=resumed,
    )
    async with run:
        if body.stream:
            return await openai_reply.stream(request, reply, new_message_dropped=resumed)
        return await openai_reply.complete(request, reply, new_message_dropped=resumed)


async def _run(
    request: web.Request,
    who: Caller | None,
    twin: Twin,
    session_id: str,
    message: str,
    body: ChatCompletionRequest,
    files: list[openai_files.FilePart],
    known: bool,
) -> tuple[JobRun, bool]:
    """The job this call serves: an earlier one of the session (the follow-up rule) or a new one,
    with the message's files uploaded and attached (only then: a follow-up's message is dropped)."""
    recorded = recorded_as(request, who) if who is not None else None
    if known:
        job_id = await openai_conversation.earlier_job(request.app, session_id, body.messages)
        if job_id is not None:
            return await follow_job(request.app, who, job_id, door=DOOR, recorded_as=recorded), True
    attachments = await openai_files.attach(request.app, uploader_of(request, who), files)
    run = await start_job(
        request.app,
        who,
        door=DOOR,
        session_id=session_id,
        message=message,
        twin_id=twin.id,
        recorded_as=recorded,
        trace_label=recorded_trace_label(request),
        attachments=attachments,
    )
    return run, False


def register(app: web.Application) -> None:
    app.router.add_get("/v1/models", list_models)
    app.router.add_get("/v1/models/{model}", get_model)
    app.router.add_post("/v1/chat/completions", chat_completions)
    errors.register_format(app, DOOR, PREFIXES, openai_errors.formatter)
