"""The browser-facing shapes: the seed's chat WebSocket protocol, `POST /v1/chat`, and the live streams
(session events and telemetry over SSE and the WebSocket, with stream sequences for resuming)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from .approval import ApprovalChanges
from .chat import IssuedCommand, SourceMemory
from .documents import MAX_ATTACHMENTS
from .limits import MAX_MESSAGE_CHARS
from .subjects import TOKEN_RE
from .telemetry import TelemetrySample
from .tool import TOOL_NAME_RE

SESSION_PATTERN = TOKEN_RE.pattern
# A stream sequence a client may name (a resume point, `after_seq`): exact in every JSON client and
# far beyond any real stream; larger numbers are refused at the door instead of reaching the server.
MAX_SEQ: Final = 2**53 - 1
# The chat WebSocket's two frame protocols. A client that asks for nothing gets the seed's sparse one:
# `complete_message`, `message_chunk`, and `status_update` for errors only (the seed's console shows
# every status as a chat bubble). A client offering this subprotocol (PAGI's console) gets the verbose
# one: every status (`queued`, `thinking`, `subscribed`, `resumed`, job log lines) and an `event`
# frame for every other event. A subprotocol, not a query string: the seed appends `/{user_id}` to
# its URL, and the mode is fixed at the handshake, before any frame could be rendered the other way.
VERBOSE_FRAMES_PROTOCOL: Final = "pagi.frames.verbose"
# The chat commands that name a tool (`/tool NAME {args}`, `/build NAME LANGUAGE`, planner/deterministic.py).
TOOL_COMMANDS: Final = ("/tool", "/build")


def _tool_named_well(text: str) -> str:
    """A chat command's tool name must be a tool name (`bus_schemas.tool.TOOL_NAME_RE`): refused here,
    at the door, rather than as an action the planner cannot build."""
    verb, _, argument = text.partition("\n")[0].partition(" ")
    if verb in TOOL_COMMANDS and argument.strip():
        name = argument.split()[0]
        if not TOOL_NAME_RE.match(name):
            raise ValueError(
                f"{verb} needs a tool name of 1-64 characters of a-z 0-9 _ -, starting with a letter"
                f" (got {len(name)} characters)"
            )
    return text


ChatText = Annotated[str, Field(min_length=1, max_length=MAX_MESSAGE_CHARS), AfterValidator(_tool_named_well)]


class Frame(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WsClientMessage(Frame):
    session_id: str = Field(pattern=SESSION_PATTERN)
    user_id: str = Field(min_length=1, max_length=128)
    timestamp: str | float | int | None = None
    message: ChatText
    twin_id: str | None = Field(default=None, max_length=64)
    namespace: str | None = Field(default=None, max_length=64)
    type: Literal["message"] | None = None
    # Documents the sender uploaded (POST /v1/documents), by id, offered to the twin with the message.
    attachments: list[str] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)
    # Follow the session from after this stream sequence (replaying what was missed) before sending.
    resume_from: int | None = Field(default=None, ge=0, le=MAX_SEQ)


class WsResume(Frame):
    """Follow a session without sending a message: replay the events after `resume_from` (every
    stored event with 0), then live; without `resume_from`, live from now on."""

    type: Literal["resume"]
    session_id: str = Field(pattern=SESSION_PATTERN)
    user_id: str = Field(min_length=1, max_length=128)
    resume_from: int | None = Field(default=None, ge=0, le=MAX_SEQ)


class CompleteMessage(Frame):
    type: Literal["complete_message"] = "complete_message"
    id: str
    content: str
    is_final: bool = True
    latency_ms: float | None = None
    source_memories: list[SourceMemory] = Field(default_factory=list)
    issued_command: IssuedCommand | None = None
    raw_orchestrator_decision: str | None = None
    session_id: str
    job_id: str | None = None
    seq: int | None = None


class MessageChunk(Frame):
    type: Literal["message_chunk"] = "message_chunk"
    id: str
    content_chunk: str
    is_final: bool = False
    session_id: str
    job_id: str | None = None
    seq: int | None = None


class StatusUpdate(Frame):
    type: Literal["status_update"] = "status_update"
    status: str
    details: str | None = None
    session_id: str | None = None
    job_id: str | None = None
    # The stream sequence of the event behind this update; None for the edge's own notices.
    seq: int | None = None


class ChatRequest(Frame):
    message: ChatText
    session_id: str = Field(pattern=SESSION_PATTERN)
    twin_id: str | None = Field(default=None, max_length=64)
    namespace: str | None = Field(default=None, max_length=64)
    user_id: str | None = Field(default=None, min_length=1, max_length=128)
    # Documents the sender uploaded (POST /v1/documents), by id, offered to the twin with the message.
    attachments: list[str] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)


class ChatResponse(Frame):
    response: str
    job_id: str
    actions_taken: list[str]
    status: str
    issued_command: IssuedCommand | None = None
    raw_orchestrator_decision: str | None = None


class ErrorResponse(Frame):
    error: str
    details: list[dict[str, Any]] = Field(default_factory=list)


class EventFrame(Frame):
    """Any event of a session as a client sees it; `seq` is its stream sequence, the resume point."""

    type: Literal["event"] = "event"
    seq: int
    event_type: str
    id: str
    ts: datetime
    session_id: str
    job_id: str | None = None
    causation_id: str | None = None
    twin_id: str | None = None
    body: dict[str, Any]


class CaughtUp(Frame):
    """SSE `caught_up`: the replay is over; what follows is live."""

    replayed: int
    last_seq: int


class StreamClosing(Frame):
    """SSE `closing`: the edge ends this stream; reconnect with Last-Event-ID to resume."""

    reason: str


class MetricsFrame(Frame):
    """SSE `metrics`: one host's sample; `seq` is its sequence in the telemetry stream."""

    seq: int
    host_id: str
    ts: datetime
    sample: TelemetrySample


class HostSeen(Frame):
    host_id: str
    last_seen: datetime
    silent: bool


class HostsFrame(Frame):
    """SSE `hosts` (a host appeared or went silent) and `GET /v1/telemetry/hosts`."""

    hosts: list[HostSeen]
    changed: str | None = None
    change: Literal["appeared", "silent"] | None = None


class SessionRecord(Frame):
    """The `pagi_sessions` KV value, keyed by session id: who owns the session."""

    owner: str = Field(min_length=1, max_length=128)
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class ApprovalDecisionRequest(Frame):
    """`POST /v1/approvals/{id}`."""

    approved: bool
    always: bool = False
    reason: str | None = Field(default=None, max_length=4000)
    decided_by: str | None = Field(default=None, min_length=1, max_length=128)
    # Approved as changed (a proposed memory's text, a document's namespace/kb): only with approved.
    changes: ApprovalChanges | None = None


class CancelRequest(Frame):
    """`POST /v1/jobs/{id}/cancel`."""

    reason: str | None = Field(default=None, max_length=4000)
    requested_by: str | None = Field(default=None, min_length=1, max_length=128)


class RollbackRequest(Frame):
    """`POST /v1/twins/{id}/prompt/rollback`."""

    version: int = Field(ge=1)


class PlanRequest(Frame):
    """The seed's Agent Planner contract: `POST /plan` (alias `POST /run`)."""

    prompt: ChatText
    session_id: str | None = Field(default=None, pattern=SESSION_PATTERN)
    resources: list[str] = Field(default_factory=list, max_length=50)
    twin_id: str | None = Field(default=None, max_length=64)


class PlanStep(Frame):
    step: int
    action_type: str
    action: dict[str, Any]
    decided_by: str
    observation: str | None = None


class PlanResponse(Frame):
    session_id: str
    job_id: str
    status: str
    plan: list[PlanStep]
    result: str
    # Set when a step waits for a human: answer it with POST /v1/approvals/{approval_id}.
    approval_id: str | None = None
    issued_command: IssuedCommand | None = None


class EchoRequest(Frame):
    """`POST /api/v1/echo`: a wiring check."""

    ping: str = Field(max_length=4000)
    request_id: str | None = Field(default=None, max_length=128)


class EchoReply(Frame):
    service: str
    received: str
    request_id: str


class MemoryPatch(Frame):
    """`PATCH /v1/memory/{memory_id}`: new text (re-embedded: the memory gets a new id), pinned, or both."""

    text: str | None = Field(default=None, min_length=1, max_length=8000)
    pinned: bool | None = None

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.text is None and self.pinned is None:
            raise ValueError("give text, pinned, or both")
        if self.text is not None and not self.text.strip():
            raise ValueError("text cannot be blank; to remove a memory, DELETE it")
        return self


class SaveMemoryRequest(Frame):
    """`POST /v1/memory`: "Save to Memory" on a message, an explicit human action."""

    session_id: str = Field(pattern=SESSION_PATTERN)
    text: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    namespace: str = Field(default="default", pattern=SESSION_PATTERN)
    kb: str = Field(default="mind", max_length=32)
    # Where it came from, e.g. "message:<event id>".
    source: str | None = Field(default=None, max_length=1000)
