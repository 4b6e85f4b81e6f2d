"""The A2A door's own shapes (edge/doors/a2a_handler.py): what PAGI reads from an A2A message besides its text,
and the reply that decides a pending approval. The A2A envelope itself (messages, parts, tasks, agent cards,
JSON-RPC errors) is the a2a-sdk's (`a2a.types`), not ours."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from .subjects import TOKEN_RE
from .web import ChatText


class A2AMessageText(BaseModel):
    """The text parts of an A2A message, joined: the twin's input (the same bounds as POST /v1/chat)."""

    model_config = ConfigDict(extra="forbid")

    message: ChatText


class A2AMessageMetadata(BaseModel):
    """`message.metadata` (or the request's `metadata`): only `twin_id` is PAGI's; a client's other keys
    are its own and ignored."""

    model_config = ConfigDict(extra="ignore")

    twin_id: str | None = Field(default=None, pattern=TOKEN_RE.pattern, max_length=64)


class A2AApprovalReply(BaseModel):
    """A JSON data part of a follow-up message to a task in `input-required`: the decision of the pending
    approval it names (never free text: a sentence does not approve anything)."""

    model_config = ConfigDict(extra="forbid")

    approval_id: str = Field(pattern=TOKEN_RE.pattern, max_length=64)
    approved: bool
    always: bool = False
    reason: str | None = Field(default=None, max_length=4000)
