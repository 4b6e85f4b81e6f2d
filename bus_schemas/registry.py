"""Which body model each event type carries."""

from __future__ import annotations

from typing import Any, Final

from . import subjects as s
from .actions import PlanAction
from .approval import ApprovalDecision, ApprovalRequest
from .build import BuildRequest, BuildResult
from .chat import ChatIn, ChatOut
from .documents import DocumentIngest, DocumentParse
from .envelope import Body, Envelope
from .errors import DeadLetter
from .evals import EvalResult, EvalRun
from .joblog import JobLog
from .jobs import JobCancel
from .memory import MemoryChanged, MemoryQuery, MemoryResult, MemoryStore
from .telemetry import TelemetrySample
from .tool import ToolResult, ToolRun
from .usage import LlmUsage, RunUsage

DEAD_LETTER: Final = s.DEAD_LETTER

EVENT_BODIES: Final[dict[str, type[Body]]] = {
    s.CHAT_IN: ChatIn,
    s.CHAT_OUT: ChatOut,
    s.PLAN_ACTION: PlanAction,
    s.APPROVE_REQUEST: ApprovalRequest,
    s.APPROVE_DECISION: ApprovalDecision,
    s.MEMORY_QUERY: MemoryQuery,
    s.MEMORY_STORE: MemoryStore,
    s.MEMORY_RESULT: MemoryResult,
    s.MEMORY_PARSE: DocumentParse,
    s.MEMORY_INGEST: DocumentIngest,
    s.MEMORY_CHANGED: MemoryChanged,
    s.TOOL_RUN: ToolRun,
    s.TOOL_RESULT: ToolResult,
    s.BUILD_REQ: BuildRequest,
    s.BUILD_RESULT: BuildResult,
    s.USAGE_LLM: LlmUsage,
    s.USAGE_RUN: RunUsage,
    s.EVAL_RUN: EvalRun,
    s.EVAL_RESULT: EvalResult,
    s.JOB_LOG: JobLog,
    s.JOB_CANCEL: JobCancel,
    s.TELEMETRY_HOST: TelemetrySample,
    DEAD_LETTER: DeadLetter,
}


# Parametrised once: building Envelope[X] is costly and pydantic caches per class anyway.
def _envelope_model(body: type[Body]) -> type[Envelope[Any]]:
    model: type[Envelope[Any]] = Envelope[body]  # type: ignore[valid-type]
    return model


ENVELOPE_MODELS: Final[dict[str, type[Envelope[Any]]]] = {
    name: _envelope_model(body) for name, body in EVENT_BODIES.items()
}


def event_type_of(body: Body) -> str:
    for name, model in EVENT_BODIES.items():
        if type(body) is model:
            return name
    raise KeyError(f"{type(body).__name__} is not a registered event body")
