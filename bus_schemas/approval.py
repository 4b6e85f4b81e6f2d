"""Human approval: an explicit decision bound to one pending request, never free text."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from .actions import Action
from .envelope import Body
from .evals import EvalSummary
from .mcp import SERVER_NAME_PATTERN, McpTool
from .memory import NAMESPACE_PATTERN

ApprovalKind = Literal["memory", "tool", "build", "self_improve", "remember", "document", "budget", "agent"]
ApprovalState = Literal["pending", "approved", "denied", "expired", "cancelled"]


# The hints MCP defines on a tool (`ToolAnnotations`); anything else a server sends is not shown.
MCP_HINTS: Final = ("readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint")


class McpToolShown(BaseModel):
    """The MCP tool an approval is for, as the person deciding sees it. `title`, `description` and
    `annotations` are the server's own words: untrusted, shown as coming from that server (as text),
    never read as policy. `digest` is the tool as it was when asked: "always" pins to it."""

    model_config = ConfigDict(extra="forbid")

    server: str = Field(pattern=SERVER_NAME_PATTERN)
    tool: str = Field(min_length=1, max_length=128)
    title: str | None = Field(default=None, max_length=200)
    description: str = Field(default="", max_length=8000)
    annotations: dict[str, bool] = Field(default_factory=dict, max_length=len(MCP_HINTS))
    digest: str = Field(pattern=r"^[0-9a-f]{64}$")

    @classmethod
    def of(cls, tool: McpTool) -> McpToolShown:
        hints = {k: v for k, v in tool.annotations.items() if k in MCP_HINTS and isinstance(v, bool)}
        title = tool.title or _text(tool.annotations.get("title"))
        return cls(
            server=tool.server,
            tool=tool.tool,
            title=title[:200] if title else None,
            description=tool.description,
            annotations=hints,
            digest=tool.digest,
        )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


class ApprovalRequest(Body):
    approval_id: str = Field(min_length=1, max_length=64)
    kind: ApprovalKind
    action: Action
    # What exactly would run, for a person: tool and arguments, the query, the code, the prompt diff.
    summary: str = Field(max_length=64_000)
    reason: str = Field(max_length=4000)
    policy: str = Field(max_length=200, description="which policy asks for this approval")
    expires_at: datetime
    # For a tool a registered MCP server lists: the server, its name for the tool, its own words.
    mcp: McpToolShown | None = None
    # A self-improvement of a twin with an eval gate: its set is being run (the record gets the result).
    eval_pending: bool = False


class ApprovalChanges(Body):
    """What the person changed before approving: a proposed memory's text (remember), and where it
    goes (remember, document), a budget's new limit (budget). Any other kind refuses changes."""

    text: str | None = Field(default=None, min_length=1, max_length=8000)
    namespace: str | None = Field(default=None, pattern=NAMESPACE_PATTERN)
    kb: Literal["soul", "domain", "body", "heart", "mind"] | None = None
    # A budget approval "approve and raise": the budget's new limit (tokens or USD, its unit).
    limit: float | None = Field(default=None, gt=0, le=10**13)


# What a person may change before approving, per kind (the planner's ActionKind.amend applies them;
# the edge refuses any other change at once).
CHANGEABLE: Final[dict[str, frozenset[str]]] = {
    "remember": frozenset({"text", "namespace", "kb"}),
    "document": frozenset({"namespace", "kb"}),
    "budget": frozenset({"limit"}),
}


class ApprovalDecision(Body):
    approval_id: str = Field(min_length=1, max_length=64)
    approved: bool
    decided_by: str = Field(min_length=1, max_length=128)
    reason: str | None = Field(default=None, max_length=4000)
    # "Always allow this tool for this twin" (tool approvals), "always allow memories in this
    # namespace for this twin" (remember approvals); revocable in the twin's policy.
    always: bool = False
    # Approved as changed by the person (only with approved=True).
    changes: ApprovalChanges | None = None


class ApprovalRecord(BaseModel):
    """The approval as kept in KV (`pagi_approvals`, key `<session>.<approval_id>`), surviving restarts."""

    model_config = ConfigDict(extra="forbid")

    approval_id: str
    session_id: str
    job_id: str
    twin_id: str
    step: int
    kind: ApprovalKind
    action: Action
    summary: str
    reason: str
    policy: str
    created_at: datetime
    expires_at: datetime
    state: ApprovalState = "pending"
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_reason: str | None = None
    # The id of the decision event that settled it: a redelivery of that same event is recognised.
    decision_event_id: str | None = None
    # The one worker request (tool.run / build.req `request_id`) this approval lets run, set when it
    # is approved: the worker refuses any other request that names this approval.
    request_id: str | None = Field(default=None, max_length=64)
    # An MCP tool's approval: what was shown, and the digest "always" pins to (bus_schemas.mcp.McpTool).
    mcp: McpToolShown | None = None
    # A self-improvement's eval against the twin's gate set (Twin.eval_gate), written by the eval gate.
    eval: EvalSummary | None = None
