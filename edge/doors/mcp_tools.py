"""The MCP door's tools: each twin the caller may use is a tool `ask_<twin>`; calling it runs a PAGI job
through the door core (edge/doors/job_run.py), reports what the job does as progress notifications
(the twin's streamed text, its job log, a pending approval and how to answer it) and answers with the
twin's final answer (`isError` when the job failed or was cancelled, or the approval expired).

A `notifications/cancelled` from the client (on the 2026 per-request wire: closing the response) makes
the SDK cancel the handler; the handler then cancels the PAGI job as the caller (job.cancel), unless
the edge itself is stopping: an edge restart leaves jobs running, as for every other door.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Final

import anyio
from mcp.server.context import ServerRequestContext
from mcp.server.streamable_http import MCP_SESSION_ID_HEADER as MCP_SESSION_HEADER
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INVALID_PARAMS,
    CallToolRequestParams,
    CallToolResult,
    ListToolsResult,
    PaginatedRequestParams,
    TextContent,
    Tool,
    ToolAnnotations,
)
from pydantic import ValidationError

from bus_schemas import new_id
from bus_schemas.mcp_door import TOOL_PREFIX, AskTwinArguments
from bus_schemas.twin import Twin
from records.access import may_see_twin

from ..appkeys import STATE
from ..chat_in import recorded_as
from ..front.observability import recorded_trace_label
from .errors import DoorRefused
from .job_run import Delta, Finished, JobRun, Progress, WaitingApproval, start_job
from .mcp_context import McpCaller, mcp_caller

log = logging.getLogger("edge.doors.mcp")

DOOR: Final = "mcp"
MAX_TOOLS: Final = 500  # one page: more twins than this for one caller is not a case we serve yet
MAX_DESCRIPTION: Final = 1000
CANCEL_TIMEOUT_S: Final = 10.0
# Silence after which the job is asked nothing more; the SDK's SSE keep-alive keeps the stream open
# meanwhile, so this only paces the core's idle ticks.
IDLE_S: Final = 15.0
RESULT_META_SESSION: Final = "pagi/session_id"
RESULT_META_JOB: Final = "pagi/job_id"
INPUT_SCHEMA: Final[dict[str, Any]] = AskTwinArguments.model_json_schema()


def tool_name(twin_id: str) -> str:
    return f"{TOOL_PREFIX}{twin_id}"


def _description(twin: Twin) -> str:
    parts = [f"Ask {twin.codename}" + (f", {twin.designation}" if twin.designation else "") + "."]
    if twin.mission:
        parts.append(twin.mission)
    parts.append("A PAGI twin: steps that need a human's approval wait for it (the progress says which and how).")
    text = " ".join(parts)
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 1] + "…"


async def visible_twins(who: McpCaller) -> list[Twin]:
    twins = await who.app[STATE].twins.list()
    return [twin for twin in twins if may_see_twin(who.reader, twin.owner)][:MAX_TOOLS]


async def list_tools(ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams | None) -> ListToolsResult:
    who = mcp_caller(ctx)
    tools = [
        Tool(
            name=tool_name(twin.id),
            title=twin.codename,
            description=_description(twin),
            input_schema=INPUT_SCHEMA,
            annotations=ToolAnnotations(title=twin.codename, read_only_hint=False, open_world_hint=True),
        )
        for twin in await visible_twins(who)
    ]
    return ListToolsResult(tools=tools)


async def _twin_of_tool(who: McpCaller, name: str) -> Twin:
    """The twin behind a tool name; one the caller may not use is answered as unknown (never "exists")."""
    twin_id = name[len(TOOL_PREFIX) :] if name.startswith(TOOL_PREFIX) else None
    twin = await who.app[STATE].twins.get(twin_id) if twin_id else None
    if twin is None or not may_see_twin(who.reader, twin.owner):
        raise MCPError(INVALID_PARAMS, f"Unknown tool: {name[:80]}")
    return twin


def _error_result(text: str, session_id: str | None = None, job_id: str | None = None) -> CallToolResult:
    return CallToolResult(content=[TextContent(text=text)], is_error=True, meta=_meta(session_id, job_id))


def _meta(session_id: str | None, job_id: str | None) -> dict[str, Any] | None:
    meta = {RESULT_META_SESSION: session_id, RESULT_META_JOB: job_id}
    return {k: v for k, v in meta.items() if v is not None} or None


class _Progress:
    """Progress notifications for one call: strictly increasing counts, a no-op when the client asked
    for none (no progress token)."""

    def __init__(self, ctx: ServerRequestContext[Any, Any]) -> None:
        self.ctx = ctx
        self.count = 0

    async def say(self, message: str) -> None:
        self.count += 1
        await self.ctx.session.report_progress(float(self.count), None, message)


async def call_tool(
    ctx: ServerRequestContext[Any, Any], params: CallToolRequestParams, *, stopping: Callable[[], bool]
) -> CallToolResult:
    """`tools/call`. `stopping` says whether the edge is shutting down (then a cancelled call leaves its
    job running)."""
    who = mcp_caller(ctx)
    twin = await _twin_of_tool(who, params.name)
    try:
        args = AskTwinArguments.model_validate(params.arguments or {})
    except ValidationError as exc:
        # A tool's input errors are the tool's answer (the model can correct itself), not a protocol error.
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in exc.errors())
        return _error_result(f"invalid arguments: {problems}")
    session_id = args.session_id or _default_session(who)
    try:
        run = await start_job(
            who.app,
            who.chatter,
            door=DOOR,
            session_id=session_id,
            message=args.message,
            twin_id=twin.id,
            recorded_as=recorded_as(who.request, who.chatter) if who.chatter is not None else None,
            trace_label=recorded_trace_label(who.request),
        )
    except DoorRefused as exc:
        if exc.status == 404:
            raise MCPError(INVALID_PARAMS, f"Unknown tool: {params.name[:80]}") from None
        return _error_result(f"refused ({exc.status}): {exc.message}", session_id)
    async with run:
        return await _follow(ctx, run, stopping)


def _default_session(who: McpCaller) -> str:
    """Without a session_id, the calls of one MCP session continue one PAGI session (so a client's
    conversation reads as one in the console); on the sessionless 2026 wire each call is a new one."""
    mcp_session = who.request.headers.get(MCP_SESSION_HEADER, "")
    if mcp_session.isascii() and mcp_session.isalnum() and len(mcp_session) <= 60:
        return f"mcp-{mcp_session}"
    return f"mcp-{new_id()}"


async def _follow(ctx: ServerRequestContext[Any, Any], run: JobRun, stopping: Callable[[], bool]) -> CallToolResult:
    progress = _Progress(ctx)
    try:
        async for event in run.events(idle_s=IDLE_S):
            if event is None:
                continue
            if isinstance(event, Delta):
                if event.text:
                    await progress.say(event.text)
            elif isinstance(event, Progress):
                await progress.say(f"{event.status}: {event.message}" if event.status else event.message)
            elif isinstance(event, WaitingApproval):
                await progress.say(event.how_to_answer)
            elif isinstance(event, Finished):
                return _finished(event, run)
    except DoorRefused as exc:
        # The job went silent past PAGI_CHAT_TIMEOUT_S, or its approval expired unanswered: it goes on.
        return _error_result(f"{exc.message}", run.session_id, run.job_id)
    except anyio.get_cancelled_exc_class():
        if not stopping():
            with anyio.CancelScope(shield=True):
                await _cancel(run)
        raise
    return _error_result("the job's events ended without an answer", run.session_id, run.job_id)


async def _cancel(run: JobRun) -> None:
    try:
        await asyncio.wait_for(run.cancel("cancelled by the MCP client"), CANCEL_TIMEOUT_S)
    except (TimeoutError, DoorRefused) as exc:
        log.warning("could not cancel job %s for the MCP client: %s", run.job_id, exc)


def _finished(event: Finished, run: JobRun) -> CallToolResult:
    body = event.answer
    status = body.status
    text = body.content or f"(the job ended {status} without text)"
    failed = status in ("failed", "cancelled")
    if failed and not text.startswith(status):
        text = f"{status}: {text}"
    return CallToolResult(
        content=[TextContent(text=text)], is_error=failed, meta=_meta(run.session_id, event.job_id or run.job_id)
    )
