"""HTTP API over the shared records: approvals, jobs, twins and prompt versions.

Reads come from the KV buckets through `records`; every change of a running job goes through the bus as an event
(`approve.decision`, `job.cancel`), so the planner stays the one that decides. The acting person is
the API key's user (edge/auth.py); in development mode (no keys), the body's `decided_by`/`requested_by`,
else `X-User-Id`, else "edge".
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bus_schemas import ApprovalDecision, Envelope
from bus_schemas.approval import ApprovalRecord
from bus_schemas.jobs import JobCancel
from bus_schemas.subjects import APPROVE_DECISION, JOB_CANCEL, TOKEN_RE
from bus_schemas.twin import TwinCreate, TwinWrite
from bus_schemas.web import ApprovalDecisionRequest, CancelRequest, RollbackRequest
from pagi.secrets import SecretsUnavailable
from records.blueprints import BLUEPRINTS
from records.bundle import open_records
from records.prompts import prompt_diff, roll_back
from records.twins import TwinError

from ..appkeys import BUS, STATE
from ..front.auth import acting_user
from ..validation import bad_request, conflict, gone, not_found, read_model


def _actor(request: web.Request, given: str | None) -> str:
    return acting_user(request, given)


def _approval_view(record: ApprovalRecord) -> dict[str, Any]:
    return record.model_dump(mode="json", exclude={"decision_event_id"})


# --- approvals ------------------------------------------------------------------------------------


async def list_approvals(request: web.Request) -> web.Response:
    session = request.query.get("session")
    if session is not None and not TOKEN_RE.match(session):
        raise bad_request(f"invalid session id {session!r}")
    pending = await request.app[STATE].approvals.pending(session)
    return web.json_response({"approvals": [_approval_view(r) for r in pending]})


async def post_approval(request: web.Request) -> web.Response:
    approval_id = request.match_info["approval_id"]
    decision = await read_model(request, ApprovalDecisionRequest)
    record = await request.app[STATE].approvals.find(approval_id)
    if record is None:
        raise not_found(f"no approval {approval_id}")
    if record.state != "pending":
        raise conflict(f"approval {approval_id} was already {record.state}")
    if datetime.now(UTC) >= record.expires_at:
        raise gone(f"approval {approval_id} expired at {record.expires_at.isoformat()}")
    event = Envelope[ApprovalDecision](
        type=APPROVE_DECISION,
        session_id=record.session_id,
        job_id=record.job_id,
        twin_id=record.twin_id,
        body=ApprovalDecision(
            approval_id=approval_id,
            approved=decision.approved,
            always=decision.always,
            reason=decision.reason,
            decided_by=_actor(request, decision.decided_by),
        ),
    )
    await request.app[BUS].publish(event)
    return web.json_response({"approval_id": approval_id, "status": "submitted", "decision_id": event.id}, status=202)


# --- jobs -----------------------------------------------------------------------------------------


async def get_job(request: web.Request) -> web.Response:
    job = await request.app[STATE].jobs.find(request.match_info["job_id"])
    if job is None:
        raise not_found(f"no job {request.match_info['job_id']}")
    return web.json_response(job.model_dump(mode="json"))


async def cancel_job(request: web.Request) -> web.Response:
    job_id = request.match_info["job_id"]
    body = await read_model(request, CancelRequest)
    job = await request.app[STATE].jobs.find(job_id)
    if job is None:
        raise not_found(f"no job {job_id}")
    if job.finished:
        raise conflict(f"job {job_id} already {job.status}")
    event = Envelope[JobCancel](
        type=JOB_CANCEL,
        session_id=job.session_id,
        job_id=job_id,
        twin_id=job.twin_id,
        body=JobCancel(job_id=job_id, requested_by=_actor(request, body.requested_by), reason=body.reason),
    )
    await request.app[BUS].publish(event)
    return web.json_response({"job_id": job_id, "status": "cancelling"}, status=202)


# --- twins ----------------------------------------------------------------------------------------


def _twin_id(request: web.Request) -> str:
    twin_id = request.match_info["twin_id"]
    if not TOKEN_RE.match(twin_id):
        raise bad_request(f"invalid twin id {twin_id!r}: use 1-64 characters of A-Z a-z 0-9 _ -")
    return twin_id


async def list_twins(request: web.Request) -> web.Response:
    store = request.app[STATE].twins
    views = [await store.view(t) for t in await store.list()]
    return web.json_response({"twins": [v.model_dump(mode="json") for v in views]})


async def create_twin(request: web.Request) -> web.Response:
    raw = await read_model(request, TwinCreate)
    store = request.app[STATE].twins
    try:
        twin = await store.create(raw.id, TwinWrite.model_validate(raw.model_dump(exclude={"id"})))
    except TwinError as exc:
        raise conflict(str(exc)) if "already exists" in str(exc) else bad_request(str(exc)) from exc
    except SecretsUnavailable as exc:
        raise bad_request(str(exc)) from exc
    return web.json_response((await store.view(twin)).model_dump(mode="json"), status=201)


async def get_twin(request: web.Request) -> web.Response:
    store = request.app[STATE].twins
    twin = await store.get(_twin_id(request))
    if twin is None:
        raise not_found(f"no twin {request.match_info['twin_id']}")
    return web.json_response((await store.view(twin)).model_dump(mode="json"))


async def put_twin(request: web.Request) -> web.Response:
    twin_id = _twin_id(request)
    settings = await read_model(request, TwinWrite)
    store = request.app[STATE].twins
    try:
        twin = await store.replace(twin_id, settings)
    except (TwinError, SecretsUnavailable) as exc:
        raise bad_request(str(exc)) from exc
    if twin is None:
        raise not_found(f"no twin {twin_id}")
    return web.json_response((await store.view(twin)).model_dump(mode="json"))


async def delete_twin(request: web.Request) -> web.Response:
    if not await request.app[STATE].twins.delete(_twin_id(request)):
        raise not_found(f"no twin {request.match_info['twin_id']}")
    return web.Response(status=204)


async def get_blueprints(request: web.Request) -> web.Response:
    return web.json_response({"blueprints": BLUEPRINTS})


# --- prompt versions ------------------------------------------------------------------------------


async def list_prompt_versions(request: web.Request) -> web.Response:
    twin_id = _twin_id(request)
    records = request.app[STATE]
    versions = await records.prompts.versions(twin_id)
    twin = await records.twins.get(twin_id)
    return web.json_response(
        {
            "twin_id": twin_id,
            "current": await records.prompts.current(twin_id, twin),
            "versions": [v.model_dump(mode="json", exclude={"prompt"}) for v in versions],
        }
    )


async def get_prompt_version(request: web.Request) -> web.Response:
    twin_id = _twin_id(request)
    try:
        number = int(request.match_info["version"])
        against = int(request.query["against"]) if "against" in request.query else None
    except ValueError as exc:
        raise bad_request("versions are whole numbers") from exc
    state = request.app[STATE]
    version = await state.prompts.get(twin_id, number)
    if version is None:
        raise not_found(f"twin {twin_id} has no prompt version {number}")
    if against is not None:
        base = await state.prompts.get(twin_id, against)
        if base is None:
            raise not_found(f"twin {twin_id} has no prompt version {against}")
        base_prompt = base.prompt
    else:
        twin = await state.twins.get(twin_id)
        base_prompt = twin.directive_logic if twin else ""
    return web.json_response({**version.model_dump(mode="json"), "diff": prompt_diff(base_prompt, version.prompt)})


async def rollback_prompt(request: web.Request) -> web.Response:
    twin_id = _twin_id(request)
    body = await read_model(request, RollbackRequest)
    records = request.app[STATE]
    if await roll_back(records.twins, records.prompts, twin_id, body.version) is None:
        raise not_found(f"twin {twin_id} has no prompt version {body.version}")
    return web.json_response({"twin_id": twin_id, "current": body.version})


def register(app: web.Application) -> None:
    async def open_state(app: web.Application) -> AsyncIterator[None]:
        app[STATE] = await open_records(app[BUS])
        yield

    app.cleanup_ctx.append(open_state)
    add = app.router
    add.add_get("/v1/approvals", list_approvals)
    add.add_post("/v1/approvals/{approval_id}", post_approval)
    add.add_get("/v1/jobs/{job_id}", get_job)
    add.add_post("/v1/jobs/{job_id}/cancel", cancel_job)
    add.add_get("/v1/twins", list_twins)
    add.add_post("/v1/twins", create_twin)
    add.add_get("/v1/twins/blueprints", get_blueprints)
    add.add_get("/v1/twins/{twin_id}", get_twin)
    add.add_put("/v1/twins/{twin_id}", put_twin)
    add.add_delete("/v1/twins/{twin_id}", delete_twin)
    add.add_get("/v1/twins/{twin_id}/prompt/versions", list_prompt_versions)
    add.add_get("/v1/twins/{twin_id}/prompt/versions/{version}", get_prompt_version)
    add.add_post("/v1/twins/{twin_id}/prompt/rollback", rollback_prompt)
