"""The browser-facing shapes: the seed's chat WebSocket protocol and `POST /v1/chat`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .chat import IssuedCommand, SourceMemory
from .limits import MAX_MESSAGE_CHARS
from .subjects import TOKEN_RE

SESSION_PATTERN = TOKEN_RE.pattern


class Frame(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WsClientMessage(Frame):
    session_id: str = Field(pattern=SESSION_PATTERN)
    user_id: str = Field(min_length=1, max_length=128)
    timestamp: str | float | int | None = None
    message: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    twin_id: str | None = Field(default=None, max_length=64)
    namespace: str | None = Field(default=None, max_length=64)


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


class MessageChunk(Frame):
    type: Literal["message_chunk"] = "message_chunk"
    id: str
    content_chunk: str
    is_final: bool = False
    session_id: str
    job_id: str | None = None


class StatusUpdate(Frame):
    type: Literal["status_update"] = "status_update"
    status: str
    details: str | None = None
    session_id: str | None = None
    job_id: str | None = None


class ChatRequest(Frame):
    message: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    session_id: str = Field(pattern=SESSION_PATTERN)
    twin_id: str | None = Field(default=None, max_length=64)
    namespace: str | None = Field(default=None, max_length=64)
    user_id: str | None = Field(default=None, max_length=128)


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
