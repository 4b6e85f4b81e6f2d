"""The MCP door's own shapes (edge/doors/mcp_server.py): the arguments of each twin's `ask_<twin>` tool
and the resource URIs it serves. The MCP envelope itself (tools, resources, progress, JSON-RPC errors)
is the mcp SDK's (`mcp_types`), not ours."""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from .subjects import TOKEN_RE
from .web import ChatText

TOOL_PREFIX: Final = "ask_"
HISTORY_URI: Final = "pagi://sessions/{session_id}/history"
PROMPT_URI: Final = "pagi://twins/{twin_id}/prompt"


class AskTwinArguments(BaseModel):
    """`tools/call ask_<twin>`: what to say, and optionally which PAGI session to say it in (a new one
    when omitted; the session shows in the console, the replay and the audit like any other)."""

    model_config = ConfigDict(extra="forbid")

    message: ChatText = Field(description="What to say to the twin.")
    session_id: str | None = Field(
        default=None,
        pattern=TOKEN_RE.pattern,
        description="The PAGI session to continue (1-64 of A-Z a-z 0-9 _ -); omitted: a new session.",
    )
