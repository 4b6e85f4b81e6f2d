"""PAGI's wire contract: every event shape, subject, stream and the codec. Nothing else defines one."""

from .actions import (
    Action,
    ActionBudget,
    ActionBuildTool,
    ActionMemory,
    ActionReadDocument,
    ActionRemember,
    ActionResponse,
    ActionSelfImprove,
    ActionStoreDocument,
    ActionTool,
    PlanAction,
)
from .approval import ApprovalDecision, ApprovalRequest
from .build import BuildRequest, BuildResult
from .chat import ChatIn, ChatOut, SourceMemory
from .codec import DecodeError, decode, encode
from .envelope import SCHEMA_VERSION, Body, Envelope, derived_id, new_id
from .errors import DeadLetter
from .joblog import JobLog
from .memory import MemoryHit, MemoryQuery, MemoryResult, MemoryStore
from .registry import DEAD_LETTER, EVENT_BODIES, event_type_of
from .telemetry import TelemetrySample
from .tool import ToolResult, ToolRun

__all__ = [
    "DEAD_LETTER",
    "EVENT_BODIES",
    "SCHEMA_VERSION",
    "Action",
    "ActionBudget",
    "ActionBuildTool",
    "ActionMemory",
    "ActionReadDocument",
    "ActionRemember",
    "ActionResponse",
    "ActionSelfImprove",
    "ActionStoreDocument",
    "ActionTool",
    "ApprovalDecision",
    "ApprovalRequest",
    "Body",
    "BuildRequest",
    "BuildResult",
    "ChatIn",
    "ChatOut",
    "DeadLetter",
    "DecodeError",
    "Envelope",
    "JobLog",
    "MemoryHit",
    "MemoryQuery",
    "MemoryResult",
    "MemoryStore",
    "PlanAction",
    "SourceMemory",
    "TelemetrySample",
    "ToolResult",
    "ToolRun",
    "decode",
    "derived_id",
    "encode",
    "event_type_of",
    "new_id",
]
