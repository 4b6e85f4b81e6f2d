"""The seed's other HTTP entry points, as its guide documents them, served by the edge over the bus.

Request and answer shapes are the seed's (`c04ch1337/pagi-digital-twin` at 830b5b7: the Python
agent's `POST /api/v1/plan`, the Rust sandbox's `POST /api/v1/execute_tool`, the mock memory's
`GET /memory/latest`, the console's `POST /v1/memory/query`), with PAGI's ids beside them (the job,
the session, the approval), which a seed client ignores.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .subjects import TOKEN_RE
from .tool import TOOL_NAME_RE
from .web import SESSION_PATTERN, ChatText, Frame, PlanResponse

# The seed's own default prompt (backend-python-agent/main.py `PlanRequest`).
SEED_DEFAULT_PROMPT = "Generate a 3-step plan to solve X."
MAX_CODE_CHARS = 100_000


class PlanAnswer(PlanResponse):
    """`POST /plan`'s answer: the caller's own `X-Trace-ID` as given (or the trace id PAGI chose)."""

    trace_id: str


class AgentPlanRequest(Frame):
    """The Python agent's `POST /api/v1/plan` body: `{prompt}`."""

    prompt: ChatText = SEED_DEFAULT_PROMPT
    session_id: str | None = Field(default=None, pattern=SESSION_PATTERN)


class AgentPlan(Frame):
    prompt: str
    llm_plan: str | None


class AgentPlanResponse(Frame):
    """`{service, status, plan, llm_response, bff_echo}` as the seed's agent answered, and its `request_id`."""

    service: str
    status: str
    plan: AgentPlan
    # The seed's model gateway payload: here the job's answer (`plan`), its status and who decided.
    llm_response: dict[str, Any]
    # The seed called its BFF's echo to prove the wiring; here the edge is that BFF.
    bff_echo: dict[str, Any]
    request_id: str
    session_id: str
    job_id: str
    approval_id: str | None = None


class ExecuteToolRequest(Frame):
    """The Rust sandbox's `POST /api/v1/execute_tool` body: `{tool_name, code?}` (and its newer `args`)."""

    tool_name: str = Field(min_length=1, max_length=64, pattern=TOOL_NAME_RE.pattern)
    code: str | None = Field(default=None, max_length=MAX_CODE_CHARS)
    args: dict[str, Any] | None = None
    session_id: str | None = Field(default=None, pattern=SESSION_PATTERN)


# `unknown_tool`: as the seed's sandbox answered a name it had no tool for (HTTP 200, the request echoed).
ToolStatus = Literal["pending_approval", "running", "success", "error", "unknown_tool", "denied", "cancelled"]


class ExecuteToolResponse(Frame):
    """`{tool_status, result}`. While a human has not decided, `tool_status` is `pending_approval`
    and `result` says how to decide and how to ask again (`GET /api/v1/execute_tool/{job_id}`)."""

    tool_status: ToolStatus
    result: dict[str, Any]
    tool_name: str
    session_id: str
    job_id: str
    approval_id: str | None = None


class LatestMemory(Frame):
    """The mock memory's `GET /memory/latest`: `{session_id, messages}`."""

    session_id: str | None
    messages: list[dict[str, Any]]


class MemoryQueryRequest(Frame):
    """The console's `POST /v1/memory/query` (frontend-digital-twin/components/NeuralMemorySearch.tsx)."""

    query: str = Field(min_length=1, max_length=4000)
    twin_id: str | None = Field(default=None, max_length=64)
    namespace: str = Field(default="default", pattern=TOKEN_RE.pattern)
    top_k: int = Field(default=10, ge=1, le=100)


class MemoryQueryHit(Frame):
    """One result as the console renders it; `timestamp`, `risk_level` are the seed's and PAGI has none."""

    id: str
    content: str
    similarity: float
    agent_id: str | None
    timestamp: str | None = None
    risk_level: str | None = None
    namespace: str
    kb: str
    source: str | None = None


class MemoryQueryResponse(Frame):
    results: list[MemoryQueryHit]
