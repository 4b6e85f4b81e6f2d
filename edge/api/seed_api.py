"""The seed's remaining documented entry points, on the edge, over the bus (shapes: bus_schemas.seed_http):

- `POST /api/v1/plan` `{prompt}` (the Python agent): one job, answered `{service, status, plan,
  llm_response, bff_echo}`.
- `POST /api/v1/execute_tool` `{tool_name, code?}` (the Rust sandbox): the tool runs as a job whose
  message is the explicit command `/tool NAME {args}`, so it goes through the planner's approval and
  the tool worker's sandbox like any tool run. Until a human decides, the answer is
  `{tool_status: "pending_approval", result: {approval_id, decide, poll}}` (HTTP 202): decide with
  `POST /v1/approvals/{approval_id}`, then `GET /api/v1/execute_tool/{job_id}` answers the result
  (202 while it is still pending or running).
- `GET /memory/latest[?session_id=]` (the mock memory): a session's messages; without one, those of
  the session of the caller's most recently started job.
- `GET /api/health` (the gateway): `Gateway operational` as plain text, 503 when the bus is away.
- `POST /v1/memory/query` `{query, twin_id?, namespace?, top_k?}` (the console's memory search).

Each asks `records.access` as the matching PAGI route does (edge/front/route_rules.py).
"""

from __future__ import annotations

import json
from typing import Any, Final

from aiohttp import web

from bus_schemas import ChatOut, Envelope, new_id
from bus_schemas.approval import ApprovalDecision
from bus_schemas.jobs import JobRecord
from bus_schemas.limits import MAX_MESSAGE_CHARS
from bus_schemas.memory import MemoryApiRequest
from bus_schemas.seed_http import (
    AgentPlan,
    AgentPlanRequest,
    AgentPlanResponse,
    ExecuteToolRequest,
    ExecuteToolResponse,
    LatestMemory,
    MemoryQueryHit,
    MemoryQueryRequest,
    MemoryQueryResponse,
    ToolStatus,
)
from bus_schemas.streams import EVENTS
from bus_schemas.subjects import APPROVE_DECISION, CHAT_OUT, TOKEN_RE, TOOL_RESULT
from bus_schemas.tool import ToolResult
from records.access import may_use_session

from ..appkeys import BUS, OWNERS, STATE
from ..front.auth import caller
from ..validation import bad_request, error, not_found, read_model
from .chat_http import chat_as_caller
from .legacy_api import REQUEST_ID, request_id_of
from .memory_api import ask_memory, check_namespace_read_logged, history_messages
from .read_access import reader_of_session

SERVICE: Final = "pagi-edge"
# The argument a tool's `code` fills, by tool (the seed's sandbox took code for every tool).
CODE_ARG: Final = {"command_exec": "cmd"}
DEFAULT_CODE_ARG: Final = "code"


async def _run_job(request: web.Request, session_id: str, message: str) -> tuple[Envelope[Any], JobRecord | None]:
    """Run one job in `session_id` for the caller (as POST /v1/chat would) and wait for its answer.
    Raises web.HTTPException for a refusal."""
    event = await chat_as_caller(request, session_id, message, anonymous_as_edge=True)
    return event, await request.app[STATE].jobs.get(session_id, event.job_id or "")


# --- POST /api/v1/plan ----------------------------------------------------------------------------


async def post_agent_plan(request: web.Request) -> web.Response:
    body = await read_model(request, AgentPlanRequest)
    request_id = request_id_of(request)
    session_id = body.session_id or f"plan-{new_id()[:12]}"
    event, job = await _run_job(request, session_id, body.prompt)
    answer: ChatOut = event.body
    command = answer.issued_command
    response = AgentPlanResponse(
        service=SERVICE,
        status="ok" if answer.status in ("completed", "awaiting_approval") else answer.status,
        plan=AgentPlan(prompt=body.prompt, llm_plan=answer.content),
        llm_response={
            "plan": answer.content,
            "status": answer.status,
            "steps": [
                {"step": s.step, "action_type": s.action_type, "decided_by": s.decided_by}
                for s in (job.steps if job else [])
            ],
            "model_name": job.steps[0].decided_by if job and job.steps else None,
        },
        bff_echo={"service": "edge", "received": SERVICE, "request_id": request_id},
        request_id=request_id,
        session_id=session_id,
        job_id=event.job_id or "",
        approval_id=getattr(command, "approval_id", None),
    )
    return web.json_response(response.model_dump(mode="json"), headers={REQUEST_ID: request_id})


# --- POST /api/v1/execute_tool, GET /api/v1/execute_tool/{job_id} ----------------------------------


def _tool_message(body: ExecuteToolRequest) -> str:
    if body.args is not None:
        args = body.args
    elif body.code is not None:
        args = {CODE_ARG.get(body.tool_name, DEFAULT_CODE_ARG): body.code}
    else:
        args = {}
    message = f"/tool {body.tool_name} {json.dumps(args)}"
    if len(message) > MAX_MESSAGE_CHARS:
        raise bad_request(f"the tool's code and arguments are over {MAX_MESSAGE_CHARS} characters together")
    return message


async def _job_events(request: web.Request, job: JobRecord) -> list[Envelope[Any]]:
    """The job's tool results, approval decisions and answers, in stream order (not its logs or
    plan events: a long session's whole history is not read for one answer)."""
    stored: list[tuple[int, Envelope[Any]]] = []
    # Each family is its own read, so the later a family comes in a job, the earlier it is read: an
    # answer seen implies the result before it is seen too (read the other way round, a result stored
    # between two reads went missing beside its answer, and a run that succeeded was told as "error").
    for family in (CHAT_OUT, TOOL_RESULT, APPROVE_DECISION):
        stored += await request.app[BUS].read_stream(EVENTS.name, f"{family}.{job.session_id}")
    return [event for _, event in sorted(stored, key=lambda pair: pair[0]) if event.job_id == job.job_id]


def _tool_args_of(job: JobRecord) -> Any:
    for step in job.steps:
        if step.action_type == "ActionTool":
            return step.action.get("args", {})
    return {}


def _tool_name_of(job: JobRecord) -> str:
    for step in job.steps:
        if step.action_type == "ActionTool":
            return str(step.action.get("tool_name", ""))
    return job.message.removeprefix("/tool ").split(" ", 1)[0]


async def _tool_answer(request: web.Request, job: JobRecord, answer: ChatOut | None) -> web.Response:
    events = await _job_events(request, job)
    results = [e.body for e in events if isinstance(e.body, ToolResult)]
    decisions = [e.body for e in events if isinstance(e.body, ApprovalDecision)]
    final = next((e.body for e in reversed(events) if isinstance(e.body, ChatOut) and e.body.is_final), answer)
    approval_id = job.waiting_id if job.waiting_for == "approval" else None
    if approval_id is None and final is not None:
        approval_id = getattr(final.issued_command, "approval_id", None)
    status: ToolStatus
    result: dict[str, Any]
    if results:
        ran = results[-1]
        status = "success" if ran.exit_code == 0 and ran.error is None else "error"
        result = {"stdout": ran.stdout, "stderr": ran.stderr, "exit_code": ran.exit_code, "error": ran.error,
                  "duration_ms": ran.duration_ms, "truncated": ran.truncated}  # fmt: skip
    elif decisions and not decisions[-1].approved:
        status = "denied"
        result = {
            "message": final.content if final else "the tool run was denied",
            "decided_by": decisions[-1].decided_by,
        }
    elif job.status == "cancelled" or (final is not None and final.status == "cancelled"):
        status, result = "cancelled", {"message": job.error or "the job was cancelled"}
    elif not decisions and (
        job.status == "waiting_approval" or (final is not None and final.status == "awaiting_approval")
    ):
        status = "pending_approval"
        result = {
            "message": final.content if final else "waiting for a human to approve the tool run",
            "approval_id": approval_id,
            "decide": f"POST /v1/approvals/{approval_id}" if approval_id else None,
            "poll": f"GET /api/v1/execute_tool/{job.job_id}",
        }
    elif job.finished or (final is not None and final.status in ("completed", "failed")):
        # Finished without running (a policy refusal, an unknown tool): the job's answer says why;
        # a tool no registry holds is the seed's `unknown_tool`, echoing what was asked.
        message = (final.content if final else None) or job.error or f"the job {job.status}"
        name = _tool_name_of(job)
        if await request.app[STATE].tools.get(name) is None:
            status, result = "unknown_tool", {"message": message, "tool_name": name, "echo": _tool_args_of(job)}
        else:
            status, result = "error", {"message": message}
    else:
        # Approved and running (the record may also lag the answer by a moment).
        status, result = "running", {"poll": f"GET /api/v1/execute_tool/{job.job_id}"}
    response = ExecuteToolResponse(
        tool_status=status,
        result=result,
        tool_name=_tool_name_of(job),
        session_id=job.session_id,
        job_id=job.job_id,
        approval_id=approval_id if status == "pending_approval" else None,
    )
    code = 202 if status in ("pending_approval", "running") else 200
    return web.json_response(response.model_dump(mode="json"), status=code)


async def post_execute_tool(request: web.Request) -> web.Response:
    body = await read_model(request, ExecuteToolRequest)
    message = _tool_message(body)
    session_id = body.session_id or f"tool-{new_id()[:12]}"
    event, job = await _run_job(request, session_id, message)
    if job is None:
        return error(502, f"the job {event.job_id} left no record")
    return await _tool_answer(request, job, event.body)


async def get_execute_tool(request: web.Request) -> web.Response:
    job_id = request.match_info["job_id"]
    if not TOKEN_RE.match(job_id):
        raise bad_request("a job id is 1-64 characters of A-Z a-z 0-9 _ -")
    job = await request.app[STATE].jobs.find(job_id)
    if job is None or not job.message.startswith("/tool "):
        raise not_found(f"no tool run {job_id}")
    await reader_of_session(request, job.session_id, f"tool run {job_id}")
    return await _tool_answer(request, job, None)


# --- GET /memory/latest ----------------------------------------------------------------------------


async def get_latest_memory(request: web.Request) -> web.Response:
    session_id = request.query.get("session_id")
    if session_id is not None:
        if not TOKEN_RE.match(session_id):
            raise bad_request("session_id: use 1-64 characters of A-Z a-z 0-9 _ -")
        await reader_of_session(request, session_id, "the latest memory")
    else:
        session_id = await _latest_session(request)
    messages = await history_messages(request.app, session_id) if session_id else []
    return web.json_response(LatestMemory(session_id=session_id, messages=messages).model_dump(mode="json"))


async def _latest_session(request: web.Request) -> str | None:
    """The session of the caller's most recently started job (an admin's: anyone's), or None: by
    start, not by last update, which a sweep or a late decision on an old job would move. A session
    nobody owns (started on the bus) is an admin's to read, not a member's."""
    who = caller(request)
    owners = request.app[OWNERS]
    for job in sorted(await request.app[STATE].jobs.all(), key=lambda j: j.created_at, reverse=True):
        owner = await owners.owner(job.session_id)
        if (owner is not None or who.is_admin) and may_use_session(who, owner):
            return job.session_id
    return None


# --- GET /api/health ---------------------------------------------------------------------------------


async def get_gateway_health(request: web.Request) -> web.Response:
    bus = request.app[BUS]
    if not bus.connected or await bus.rtt_ms() is None:
        return web.Response(status=503, text="Gateway degraded: the bus is not connected")
    return web.Response(text="Gateway operational")


# --- POST /v1/memory/query ---------------------------------------------------------------------------


async def post_memory_query(request: web.Request) -> web.Response:
    body = await read_model(request, MemoryQueryRequest)
    # `twin_id` only names who asked (echoed as `agent_id`); the namespace decides what is read.
    check_namespace_read_logged(request, body.namespace, "searched")
    reply = await ask_memory(
        request, MemoryApiRequest(op="search", query=body.query, namespace=body.namespace, k=body.top_k)
    )
    if isinstance(reply, web.Response):
        return reply
    hits = [
        MemoryQueryHit(id=h.id, content=h.text, similarity=h.score, agent_id=body.twin_id, namespace=h.namespace,
                       kb=h.kb, source=h.source)
        for h in reply.results
    ]  # fmt: skip
    return web.json_response(MemoryQueryResponse(results=hits).model_dump(mode="json"))


def register(app: web.Application) -> None:
    app.router.add_post("/api/v1/plan", post_agent_plan)
    app.router.add_post("/api/v1/execute_tool", post_execute_tool)
    app.router.add_get("/api/v1/execute_tool/{job_id}", get_execute_tool)
    app.router.add_get("/memory/latest", get_latest_memory)
    app.router.add_get("/api/health", get_gateway_health)
    app.router.add_post("/v1/memory/query", post_memory_query)
