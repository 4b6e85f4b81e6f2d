"""The seed's other HTTP entry points, served the PAGI way (over the bus):

- `POST /plan` and `POST /run` (the seed's Agent Planner): run a normal job and answer with its plan
  and result; a gated step answers with the pending approval instead of running it.
- `GET /api/v1/agi/dashboard-data`: one aggregated view, each part gathered concurrently with its
  own timeout and marked ok or failed, never failing the whole answer.
- `POST /api/v1/echo`: a wiring check.

`X-Trace-ID` (observability middleware) and `X-Request-Id` (here) are taken from the request when
given and returned.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web

from bus_schemas import ChatOut, new_id
from bus_schemas.memory import MEMORY_API_SUBJECT, MemoryApiReply, MemoryApiRequest
from bus_schemas.seed_http import PlanAnswer
from bus_schemas.streams import TELEMETRY
from bus_schemas.subjects import telemetry_subject
from bus_schemas.web import EchoReply, EchoRequest, PlanRequest, PlanStep
from records.access import may_act_in_session

from ..appkeys import BUS, OWNERS, SERVICES, STATE, TELEMETRY_HUB
from ..front.auth import caller
from ..front.observability import answered_trace_id
from ..validation import read_model
from .chat_http import chat_as_caller

REQUEST_ID: Final = "X-Request-Id"
PART_TIMEOUT_S: Final = 2.0


def request_id_of(request: web.Request) -> str:
    """The caller's `X-Request-Id` when it is a short printable one, else a new id."""
    given = request.headers.get(REQUEST_ID, "")
    return given if 0 < len(given) <= 128 and given.isprintable() else new_id()


async def post_plan(request: web.Request) -> web.Response:
    body = await read_model(request, PlanRequest)
    session_id = body.session_id or f"plan-{new_id()[:12]}"
    message = body.prompt
    if body.resources:
        message += "\n\nResources:\n" + "\n".join(f"- {r}" for r in body.resources)
    # Like /v1/chat: only the session's owner (or an admin) plans in it, and a seed marker in the
    # prompt decides as the caller (planner/chat_in.py), never as an anonymous "seed-ui".
    event = await chat_as_caller(request, session_id, message, body.twin_id, anonymous_as_edge=True)
    answer: ChatOut = event.body
    job = await request.app[STATE].jobs.get(session_id, event.job_id or "")
    steps = [
        PlanStep(
            step=s.step, action_type=s.action_type, action=s.action, decided_by=s.decided_by, observation=s.observation
        )
        for s in (job.steps if job else [])
    ]
    command = answer.issued_command
    response = PlanAnswer(
        session_id=session_id,
        job_id=event.job_id or "",
        status=answer.status,
        plan=steps,
        result=answer.content,
        approval_id=getattr(command, "approval_id", None),
        issued_command=command,
        trace_id=answered_trace_id(request),
    )
    return web.json_response(response.model_dump(mode="json"))


async def post_echo(request: web.Request) -> web.Response:
    body = await read_model(request, EchoRequest)
    reply = EchoReply(service="edge", received=body.ping, request_id=body.request_id or request_id_of(request))
    return web.json_response(reply.model_dump(), headers={REQUEST_ID: reply.request_id})


# --- the dashboard -------------------------------------------------------------------------------


async def _services(request: web.Request) -> Any:
    app = request.app
    registry = app.get(SERVICES)
    if registry is None:
        raise RuntimeError("service registry not running")
    return {
        name: {"status": "up" if view.instances else "down", "instances": len(view.instances)}
        for name, view in registry.services().items()
    }


async def _jobs(request: web.Request) -> Any:
    app = request.app
    jobs = await app[STATE].jobs.all()
    return {"total": len(jobs), "by_status": dict(Counter(job.status for job in jobs))}


async def _approvals(request: web.Request) -> Any:
    """The caller's sessions' pending approvals (an admin's: all), as `GET /v1/approvals` lists them."""
    who = caller(request)
    owners = request.app[OWNERS]
    pending = [a for a in await request.app[STATE].approvals.pending()
               if may_act_in_session(who, await owners.owner(a.session_id))]  # fmt: skip
    return {
        "pending": len(pending),
        "items": [{"approval_id": a.approval_id, "session_id": a.session_id, "kind": a.kind, "summary": a.summary[:200]}
                  for a in pending[:50]],
    }  # fmt: skip


async def _memory(request: web.Request) -> Any:
    app = request.app
    reply = await app[BUS].request(
        MEMORY_API_SUBJECT, MemoryApiRequest(op="namespaces"), MemoryApiReply, timeout_s=PART_TIMEOUT_S
    )
    if not reply.ok:
        raise RuntimeError(reply.error or "memory worker refused")
    return {"namespaces": reply.namespaces or {}}


async def _telemetry(request: web.Request) -> Any:
    app = request.app
    hub = app.get(TELEMETRY_HUB)
    if hub is None:
        raise RuntimeError("telemetry hub not running")
    latest = {}
    for host in hub.snapshot().hosts:
        event = await app[BUS].last_event(TELEMETRY.name, telemetry_subject(host.host_id))
        latest[host.host_id] = {
            "last_seen": host.last_seen.isoformat() if host.last_seen else None,
            "silent": host.silent,
            "sample": event.body.model_dump(mode="json") if event else None,
        }
    return latest


PARTS: Final[dict[str, Callable[[web.Request], Awaitable[Any]]]] = {
    "services": _services,
    "jobs": _jobs,
    "approvals": _approvals,
    "memory": _memory,
    "telemetry": _telemetry,
}


async def _gather(request: web.Request, name: str) -> dict[str, Any]:
    try:
        return {"status": "ok", "data": await asyncio.wait_for(PARTS[name](request), PART_TIMEOUT_S)}
    except TimeoutError:
        return {"status": "failed", "error": f"{name}: no answer within {PART_TIMEOUT_S}s"}
    except Exception as exc:
        return {"status": "failed", "error": f"{name}: {exc}"}


async def get_dashboard(request: web.Request) -> web.Response:
    request_id = request_id_of(request)
    results = await asyncio.gather(*(_gather(request, name) for name in PARTS))
    body = {"request_id": request_id, **dict(zip(PARTS, results, strict=True))}
    return web.json_response(body, headers={REQUEST_ID: request_id})


def register(app: web.Application) -> None:
    app.router.add_post("/plan", post_plan)
    app.router.add_post("/run", post_plan)
    app.router.add_get("/api/v1/agi/dashboard-data", get_dashboard)
    app.router.add_post("/api/v1/echo", post_echo)
