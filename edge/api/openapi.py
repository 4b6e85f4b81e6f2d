"""`GET /openapi.json`: the edge's HTTP API as an OpenAPI 3.1 document.

The paths come from the app's router when the document is asked for, so a new route appears even
before anyone describes it here; the table below adds what the router cannot know: request bodies
and answers (from the pydantic models in `bus_schemas`, the only wire shapes) and query parameters.
WebSocket and SSE routes are listed with what they return; they are not plain request/response.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from bus_schemas.budgets import Budget, BudgetList, BudgetWrite
from bus_schemas.evals import (
    EvalResult,
    EvalRunRequest,
    EvalRunStarted,
    EvalSet,
    EvalSetList,
    EvalSetView,
    EvalSetWrite,
)
from bus_schemas.mcp import McpServerList, McpServerView, McpServerWrite
from bus_schemas.schedules import Schedule, ScheduleList, ScheduleWrite
from bus_schemas.seed_http import (
    AgentPlanRequest,
    AgentPlanResponse,
    ExecuteToolRequest,
    ExecuteToolResponse,
    LatestMemory,
    MemoryQueryRequest,
    MemoryQueryResponse,
    PlanAnswer,
)
from bus_schemas.twin import TwinCreate, TwinWrite
from bus_schemas.usage import Price, PriceList, PriceWrite, UsageReport
from bus_schemas.web import (
    ApprovalDecisionRequest,
    CancelRequest,
    ChatRequest,
    ChatResponse,
    EchoReply,
    EchoRequest,
    ErrorResponse,
    MemoryPatch,
    PlanRequest,
    RollbackRequest,
)

REF: Final = "#/components/schemas/{model}"


@dataclass(frozen=True)
class Query:
    name: str
    kind: str = "string"
    required: bool = False


@dataclass(frozen=True)
class Operation:
    summary: str
    body: type[BaseModel] | None = None
    answer: type[BaseModel] | None = None
    query: tuple[Query, ...] = ()
    # Not a request/response exchange: an event stream or a WebSocket upgrade.
    streaming: str | None = None


OPERATIONS: Final[dict[tuple[str, str], Operation]] = {
    ("GET", "/health"): Operation("the edge, its bus and every known service"),
    ("POST", "/v1/chat"): Operation("send a chat message and wait for its answer", ChatRequest, ChatResponse),
    ("GET", "/ws/chat/{user_id}"): Operation("the chat WebSocket (seed protocol, with resume)", streaming="websocket"),
    ("GET", "/v1/events/stream"): Operation(
        "a session's events as server-sent events",
        query=(Query("session", required=True), Query("user"), Query("after", "integer")),
        streaming="text/event-stream",
    ),
    ("GET", "/v1/telemetry/stream"): Operation(
        "host telemetry as server-sent events",
        query=(Query("since", "integer"), Query("host"), Query("after", "integer")),
        streaming="text/event-stream",
    ),
    ("GET", "/v1/telemetry/hosts"): Operation("known hosts and whether they are silent"),
    ("GET", "/v1/approvals"): Operation("pending approvals", query=(Query("session"),)),
    ("POST", "/v1/approvals/{approval_id}"): Operation("approve or deny", ApprovalDecisionRequest),
    ("GET", "/v1/jobs/{job_id}"): Operation("a job's state and steps", query=(Query("session"),)),
    ("POST", "/v1/jobs/{job_id}/cancel"): Operation("cancel a job", CancelRequest),
    ("GET", "/v1/twins"): Operation("every twin"),
    ("POST", "/v1/twins"): Operation("create a twin", TwinCreate),
    ("GET", "/v1/twins/blueprints"): Operation("starter twins"),
    ("GET", "/v1/twins/{twin_id}"): Operation("one twin"),
    ("PUT", "/v1/twins/{twin_id}"): Operation("update a twin", TwinWrite),
    ("DELETE", "/v1/twins/{twin_id}"): Operation("delete a twin"),
    ("GET", "/v1/twins/{twin_id}/prompt/versions"): Operation("a twin's prompt versions"),
    ("GET", "/v1/twins/{twin_id}/prompt/versions/{version}"): Operation(
        "one prompt version, optionally diffed", query=(Query("against", "integer"),)
    ),
    ("POST", "/v1/twins/{twin_id}/prompt/rollback"): Operation("make an earlier prompt current", RollbackRequest),
    ("GET", "/v1/tools"): Operation("the tool registry, or one twin's menu", query=(Query("twin"),)),
    ("GET", "/v1/tools/{name}"): Operation("one tool"),
    ("GET", "/v1/mcp/servers"): Operation("registered MCP servers (header names, never values)", answer=McpServerList),
    ("POST", "/v1/mcp/servers"): Operation(
        "register an MCP server (admins only): stdio command and args, or a Streamable HTTP url",
        McpServerWrite,
        McpServerView,
    ),
    ("DELETE", "/v1/mcp/servers/{name}"): Operation("remove an MCP server (admins only)"),
    ("GET", "/v1/usage"): Operation(
        "usage totals by twin, user, session or model, per day, and the costliest sessions (a member: their own)",
        answer=UsageReport,
        query=(Query("by"), Query("since"), Query("until")),
    ),
    ("GET", "/v1/prices"): Operation(
        "the price table per provider and model (USD per million tokens)", answer=PriceList
    ),
    ("PUT", "/v1/prices/{provider}/{model}"): Operation("set a price (admins only)", PriceWrite, Price),
    ("GET", "/v1/budgets"): Operation(
        "budgets with what their period has spent (a member: the install's, their own, their twins')",
        answer=BudgetList,
    ),
    ("PUT", "/v1/budgets/{scope}"): Operation(
        "set the day's or month's budget of `global`, `user:<id>` or `twin:<id>` (admins only)", BudgetWrite, Budget
    ),
    ("DELETE", "/v1/budgets/{scope}"): Operation(
        "remove a budget (admins only)", query=(Query("period", required=True),)
    ),
    ("GET", "/v1/evals"): Operation("eval sets, of one twin with ?twin=", answer=EvalSetList, query=(Query("twin"),)),
    ("POST", "/v1/evals"): Operation(
        "create an eval set from recorded sessions (who may change the twin)", EvalSetWrite, EvalSet
    ),
    ("GET", "/v1/evals/{set_id}"): Operation("an eval set and its recent results", answer=EvalSetView),
    ("DELETE", "/v1/evals/{set_id}"): Operation("delete an eval set and its results"),
    ("POST", "/v1/evals/{set_id}/runs"): Operation(
        "run a set against a prompt version (who may change the twin); 202 with the run id",
        EvalRunRequest,
        EvalRunStarted,
    ),
    ("GET", "/v1/evals/{set_id}/runs/{run_id}"): Operation(
        "a run's result (404 until the planner has stored it)", answer=EvalResult
    ),
    ("GET", "/v1/schedules"): Operation("the caller's schedules (an admin: all)", answer=ScheduleList),
    ("POST", "/v1/schedules"): Operation(
        "schedule a message to a twin: `@every 1m`, `@at <RFC 3339>` or a 6-field cron with `time_zone`; 201",
        ScheduleWrite,
        Schedule,
    ),
    ("DELETE", "/v1/schedules/{schedule_id}"): Operation("remove a schedule"),
    ("POST", "/v1/schedules/{schedule_id}/pause"): Operation("pause a schedule (kept, not fired)", answer=Schedule),
    ("POST", "/v1/schedules/{schedule_id}/resume"): Operation("resume a paused schedule", answer=Schedule),
    ("GET", "/metrics"): Operation("Prometheus metrics"),
    ("GET", "/v1/metrics/targets"): Operation("every service's metrics endpoint (Prometheus HTTP SD)"),
    ("GET", "/v1/audit"): Operation(
        "a page of the event log",
        query=(
            Query("session"),
            Query("type"),
            Query("since"),
            Query("after_seq", "integer"),
            Query("limit", "integer"),
        ),
    ),
    ("POST", "/plan"): Operation("the seed's planner contract", PlanRequest, PlanAnswer),
    ("POST", "/run"): Operation("alias of POST /plan", PlanRequest, PlanAnswer),
    ("POST", "/api/v1/plan"): Operation("the seed's Python agent: one job's plan", AgentPlanRequest, AgentPlanResponse),
    ("POST", "/api/v1/execute_tool"): Operation(
        "the seed's sandbox: run a tool (after its approval; 202 with the approval id until decided)",
        ExecuteToolRequest,
        ExecuteToolResponse,
    ),
    ("GET", "/api/v1/execute_tool/{job_id}"): Operation(
        "a tool run's state: pending_approval or running (202), then its result", answer=ExecuteToolResponse
    ),
    ("GET", "/memory/latest"): Operation(
        "a session's messages (the caller's latest without session_id)",
        answer=LatestMemory,
        query=(Query("session_id"),),
    ),
    ("GET", "/api/health"): Operation("the seed gateway's health: `Gateway operational` (text/plain)"),
    ("POST", "/v1/memory/query"): Operation(
        "the seed console's memory search", MemoryQueryRequest, MemoryQueryResponse
    ),
    ("GET", "/v1/memory"): Operation(
        "a page of a namespace's memories, newest first, with filters (Mind view)",
        query=(
            Query("namespace"),
            Query("kb"),
            Query("source"),
            Query("since"),
            Query("until"),
            Query("approved_by"),
            Query("pinned", "boolean"),
            Query("offset", "integer"),
            Query("limit", "integer"),
        ),
    ),
    ("PATCH", "/v1/memory/{memory_id}"): Operation(
        "edit a memory's text (re-embedded: a new id, the old text kept in its history) and/or pin it", MemoryPatch
    ),
    ("POST", "/v1/documents"): Operation(
        "upload a document (multipart: file, namespace?, kb?, session_id?): stored once by digest, read, "
        "stored in memory once approved"
    ),
    ("POST", "/api/v1/echo"): Operation("a wiring check", EchoRequest, EchoReply),
}
MODELS: Final = sorted(
    {m for op in OPERATIONS.values() for m in (op.body, op.answer) if m is not None} | {ErrorResponse},
    key=lambda m: m.__name__,
)


def _schemas() -> dict[str, Any]:
    _, document = models_json_schema([(m, "validation") for m in MODELS], ref_template=REF)
    schemas: dict[str, Any] = document.get("$defs", {})
    return schemas


def _ref(model: type[BaseModel]) -> dict[str, Any]:
    return {"$ref": REF.format(model=model.__name__)}


def _operation(path: str, op: Operation) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for name in _path_params(path)
    ]
    params += [{"name": q.name, "in": "query", "required": q.required, "schema": {"type": q.kind}} for q in op.query]
    error = {"content": {"application/json": {"schema": _ref(ErrorResponse)}}}
    answer: dict[str, Any] = {"description": "OK"}
    if op.answer is not None:
        answer["content"] = {"application/json": {"schema": _ref(op.answer)}}
    elif op.streaming == "text/event-stream":
        answer["content"] = {"text/event-stream": {"schema": {"type": "string"}}}
    responses: dict[str, Any] = {"200": answer, "4XX": {"description": "the request was refused", **error}}
    if op.streaming == "websocket":
        responses = {"101": {"description": "switching to the WebSocket protocol"}, **responses}
    result: dict[str, Any] = {"summary": op.summary, "parameters": params, "responses": responses}
    if op.body is not None:
        result["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(op.body)}}}
    if op.streaming is not None:
        result["x-streaming"] = op.streaming
    return result


def _path_params(path: str) -> list[str]:
    return [part[1:-1].split(":", 1)[0] for part in path.split("/") if part.startswith("{") and part.endswith("}")]


def build_document(app: web.Application) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else None
        method = route.method.upper()
        if path is None or method in ("HEAD", "*") or "{filename" in path or path.startswith(("/static", "/assets")):
            continue
        op = OPERATIONS.get((method, path)) or Operation(f"{method} {path}")
        paths.setdefault(path, {})[method.lower()] = _operation(path, op)
    return {
        "openapi": "3.1.0",
        "info": {"title": "PAGI edge", "version": "1", "description": "the PAGI edge (docs/architecture.md)"},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": _schemas()},
    }


def register(app: web.Application) -> None:
    built: list[dict[str, Any]] = []  # built on first request, once every route is registered

    async def get_openapi(request: web.Request) -> web.Response:
        if not built:
            built.append(build_document(request.app))
        return web.json_response(built[0])

    app.router.add_get("/openapi.json", get_openapi)
