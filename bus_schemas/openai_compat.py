"""The OpenAI-compatible door's wire shapes (`/v1/models`, `/v1/chat/completions`): what we accept and
what we send, as OpenAI's API reference and its official SDK define them, and PAGI's one extension
(`pagi`, on a completion and on a stream's last chunk).

Ours, not the `openai` package's types: the SDK is a test dependency only (the edge must not need it
to run), and its request types are TypedDicts that validate nothing. Requests are bounded here
(message count, content length, parts per message; nesting is bounded by `safe_json` before this
model sees the body); unknown request fields are ignored, as OpenAI-compatible servers do, since chat
UIs send vendor fields of their own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from .limits import MAX_MESSAGE_CHARS, MAX_TEXT_CHARS
from .subjects import TOKEN_RE

MAX_MESSAGES: Final = 256
MAX_PARTS: Final = 64
MAX_METADATA: Final = 16  # OpenAI's own bound on `metadata` pairs
# The earliest messages of a new session, sent to the twin as a context block in front of the new
# input: at most this many characters (the newest turns are kept; older ones are dropped whole).
MAX_CONTEXT_CHARS: Final = 12_000
# What a request may set `temperature` to: a twin's own range (bus_schemas.twin.TwinSettings).
MAX_TEMPERATURE: Final = 1.5
SESSION_HEADER: Final = "X-PAGI-Session"
JOB_HEADER: Final = "X-PAGI-Job"

Role = Literal["system", "developer", "user", "assistant", "tool", "function"]
FinishReason = Literal["stop", "length", "content_filter"]


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ContentPart(_Request):
    """One part of a message's content; only `text` parts are served (images, audio and files are
    refused by the door with a 400 naming the part)."""

    type: str = Field(max_length=40)
    text: str | None = Field(default=None, max_length=MAX_MESSAGE_CHARS)


class ChatMessage(_Request):
    role: Role
    content: (
        Annotated[str, Field(max_length=MAX_MESSAGE_CHARS)]
        | Annotated[list[ContentPart], Field(max_length=MAX_PARTS)]
        | None
    ) = None
    name: str | None = Field(default=None, max_length=64)

    def text(self) -> str:
        """The message's text (text parts joined); other parts are the door's to refuse first."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text or "" for part in self.content if part.type == "text")


class StreamOptions(_Request):
    include_usage: bool = False


class ChatCompletionRequest(_Request):
    model: str = Field(min_length=1, max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    stream: bool = False
    stream_options: StreamOptions | None = None
    # OpenAI's range; the door then refuses what a twin could not be set to (MAX_TEMPERATURE).
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    n: int | None = Field(default=None, ge=1, le=128)
    user: str | None = Field(default=None, max_length=128)
    metadata: dict[str, str] | None = Field(default=None, max_length=MAX_METADATA)
    # Refused when not empty: a twin calls its own tools, under its policy and approvals.
    tools: list[Any] | None = Field(default=None, max_length=128)


class ErrorBody(BaseModel):
    message: str
    type: str
    code: str | None = None
    param: str | None = None


class ErrorResponse(BaseModel):
    """OpenAI's error shape, for every refusal on the door's paths (the front door's too)."""

    error: ErrorBody


class ModelCard(BaseModel):
    id: str = Field(pattern=TOKEN_RE.pattern)
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class Usage(BaseModel):
    """Token figures. PAGI's jobs do not report provider usage to the edge, so these are estimates:
    about four characters a token (`estimate_tokens`), of the input as sent and the answer as served."""

    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    total_tokens: int = Field(ge=0)


class PendingApproval(BaseModel):
    approval_id: str
    kind: str
    summary: str = Field(max_length=MAX_TEXT_CHARS)
    expires_at: datetime
    # How to answer it: the console, the HTTP route, the bus subject.
    approve_url: str
    bus_subject: str


class PagiInfo(BaseModel):
    """PAGI's extension: where the conversation lives, so it can be found in the console, replay and
    audit, and what the job is waiting for."""

    session_id: str = Field(pattern=TOKEN_RE.pattern)
    job_id: str
    twin_id: str
    status: Literal["completed", "failed", "cancelled", "awaiting_approval"]
    pending_approval: PendingApproval | None = None
    # Set when the call answered an earlier job of the session instead of starting one (the
    # follow-up rule in edge/doors/openai_api.py).
    resumed: bool = False


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str = Field(max_length=MAX_TEXT_CHARS)
    refusal: str | None = None


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: FinishReason
    logprobs: None = None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    system_fingerprint: str | None = None
    pagi: PagiInfo


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta
    finish_reason: FinishReason | None = None
    logprobs: None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    # Only on the last chunk, and only when `stream_options.include_usage` (then with no choices).
    usage: Usage | None = None
    system_fingerprint: str | None = None
    pagi: PagiInfo | None = None


def estimate_tokens(text: str) -> int:
    """About four characters a token (OpenAI's own rule of thumb for English); at least one for any
    text. An estimate, said so in Usage's docstring and the README."""
    return 0 if not text else max(1, (len(text) + 3) // 4)
