"""HTTP API over the shared records: approvals, jobs, twins and prompt versions.

Reads come from the KV buckets through `records`; every change of a running job goes through the bus as an event
(`approve.decision`, `job.cancel`), so the planner stays the one that decides. The caller (edge/front/auth.py)
may see and act on an approval or job only if `records.access` says so (its session's owner, or an admin);
anyone else is answered as if it did not exist, and nothing is published. The acting person recorded is
the API key's user (an admin visibly as one: `Caller.as_recorded`), whatever the body says; in development
mode (no keys), the body's `decided_by`/`requested_by`, else `X-User-Id`, else "edge".
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from bus_schemas import Envelope
from bus_schemas.approval import ApprovalRecord
from bus_schemas.jobs import JobCancel
from bus_schemas.subjects import JOB_CANCEL, TOKEN_RE
from bus_schemas.web import ApprovalDecisionRequest, CancelRequest
from records.access import Caller, check_session_object, may_act_in_session
from records.bundle import open_records

from ..appkeys import BUS, OWNERS, STATE
from ..chat_in import recorded_as
from ..doors.approvals import decide
from ..doors.errors import DoorRefused
from ..front.auth import caller
from ..validation import bad_request, conflict, error, not_found, read_model


async def _check(request: web.Request, who: Caller, what: str, session_id: str) -> None:
    """Raises `Hidden` (as "no <what>", the same answer as a missing one) unless `who` may act in the session."""
    check_session_object(who, what, await request.app[OWNERS].owner(session_id))


def _approval_view(record: ApprovalRecord) -> dict[str, Any]:
    return record.model_dump(mode="json", exclude={"decision_event_id"})


# --- approvals ------------------------------------------------------------------------------------


async def list_approvals(request: web.Request) -> web.Response:
    session = request.query.get("session")
    if session is not None and not TOKEN_RE.match(session):
        raise bad_request(f"invalid session id {session!r}")
    who = caller(request)
    owners = request.app[OWNERS]
    pending = await request.app[STATE].approvals.pending(session)
    visible = [r for r in pending if may_act_in_session(who, await owners.owner(r.session_id))]
    return web.json_response({"approvals": [_approval_view(r) for r in visible]})


async def post_approval(request: web.Request) -> web.Response:
    """Decided through the one path every door takes (edge/doors/approvals.py)."""
    approval_id = request.match_info["approval_id"]
    decision = await read_model(request, ApprovalDecisionRequest)
    who = caller(request, decision.decided_by)
    try:
        event = await decide(
            request.app,
            who,
            approval_id,
            approved=decision.approved,
            always=decision.always,
            reason=decision.reason,
            recorded_as=recorded_as(request, who),
            changes=decision.changes,
        )
    except DoorRefused as refused:
        return error(refused.status, refused.message)
    return web.json_response({"approval_id": approval_id, "status": "submitted", "decision_id": event.id}, status=202)


# --- jobs -----------------------------------------------------------------------------------------


async def get_job(request: web.Request) -> web.Response:
    job_id = request.match_info["job_id"]
    job = await request.app[STATE].jobs.find(job_id)
    if job is None:
        raise not_found(f"no job {job_id}")
    await _check(request, caller(request), f"job {job_id}", job.session_id)
    return web.json_response(job.model_dump(mode="json"))


async def cancel_job(request: web.Request) -> web.Response:
    job_id = request.match_info["job_id"]
    body = await read_model(request, CancelRequest)
    who = caller(request, body.requested_by)
    job = await request.app[STATE].jobs.find(job_id)
    if job is None:
        raise not_found(f"no job {job_id}")
    await _check(request, who, f"job {job_id}", job.session_id)
    if job.finished:
        raise conflict(f"job {job_id} already {job.status}")
    event = Envelope[JobCancel](
        type=JOB_CANCEL,
        session_id=job.session_id,
        job_id=job_id,
        twin_id=job.twin_id,
        body=JobCancel(job_id=job_id, requested_by=recorded_as(request, who), reason=body.reason),
    )
    await request.app[BUS].publish(event)
    return web.json_response({"job_id": job_id, "status": "cancelling"}, status=202)


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
