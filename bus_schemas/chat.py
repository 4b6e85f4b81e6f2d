"""What a person says to a twin, and what the twin answers."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from .documents import MAX_ATTACHMENTS, DocumentRef
from .envelope import Body
from .limits import MAX_MESSAGE_CHARS, MAX_TEXT_CHARS
from .replay import ReplayOf


class ShowMemoryPage(Body):
    command: Literal["show_memory_page"] = "show_memory_page"
    query: str
    # The approval id: the seed console answers `[MEMORY_SHOWN] <memory_id>` (planner/markers.py).
    memory_id: str | None = None
    approval_id: str | None = None


class ExecuteTool(Body):
    command: Literal["execute_tool"] = "execute_tool"
    tool_name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    approval_id: str | None = None


class PromptForConfig(Body):
    command: Literal["prompt_for_config"] = "prompt_for_config"
    config_key: str
    prompt: str
    approval_id: str | None = None


class BuildToolCommand(Body):
    command: Literal["build_tool"] = "build_tool"
    tool_name: str
    language: str
    approval_id: str | None = None


class SelfImproveCommand(Body):
    command: Literal["self_improve"] = "self_improve"
    diff: str
    approval_id: str | None = None


# The seed's UI commands, tagged by `command`.
IssuedCommand = Annotated[
    ShowMemoryPage | ExecuteTool | PromptForConfig | BuildToolCommand | SelfImproveCommand,
    Field(discriminator="command"),
]


class ChatIn(Body):
    message: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    user_id: str | None = Field(default=None, max_length=128)
    # How a decision this message makes (a seed marker) records its sender, set by the edge's door:
    # `records.access.Caller.as_recorded` ("root (admin)"); absent, the user_id.
    recorded_as: str | None = Field(default=None, max_length=160)
    # The sender's role as the edge's door knows it (`records.access.Caller.role`): an admin reaches
    # another user's private twin. Absent (a bus client), a named `user_id` is a member.
    caller_role: Literal["admin", "member"] | None = None
    twin_id: str | None = Field(default=None, max_length=64)
    namespace: str | None = Field(default=None, max_length=64)
    # Only read from a bare `chat.in` publish, where the subject carries no session.
    session_id: str | None = Field(default=None, max_length=64)
    # Set by `pagi replay --rerun`: the recorded decisions to reuse instead of asking the LLM.
    replay: ReplayOf | None = None
    # Files sent with the message (uploaded first, `POST /v1/documents`): read and offered to the twin
    # for this conversation, stored in memory only if a person approves.
    attachments: list[DocumentRef] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)


class SourceMemory(Body):
    """A memory an answer used (a citation): where it came from, so the console can open it."""

    id: str
    text: str
    score: float
    namespace: str | None = None
    kb: str | None = None
    source: str | None = None
    page: int | None = None
    document_id: str | None = None
    # A remembered (not uploaded) memory: the session and message it came from.
    session_id: str | None = None


class ChatOut(Body):
    """The answer. `is_final=False` events carry one streamed chunk of it in `content`."""

    content: str = Field(max_length=MAX_TEXT_CHARS)
    is_final: bool = True
    actions_taken: list[str] = Field(default_factory=list)
    status: Literal["completed", "failed", "cancelled", "awaiting_approval"] = "completed"
    issued_command: IssuedCommand | None = None
    raw_orchestrator_decision: str | None = None
    source_memories: list[SourceMemory] = Field(default_factory=list)
    latency_ms: float | None = None
