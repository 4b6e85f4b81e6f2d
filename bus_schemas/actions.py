"""The planner's decisions: a discriminated union on `action_type`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from .documents import DocumentRef, ParsedDocument
from .envelope import Body
from .limits import MAX_TEXT_CHARS


class ActionMemory(Body):
    action_type: Literal["ActionMemory"] = "ActionMemory"
    query: str = Field(min_length=1, max_length=4000)
    namespace: str | None = Field(default=None, max_length=64)
    top_k: int | None = Field(default=None, ge=1, le=100)


class ActionRemember(Body):
    """The twin proposes a memory: always a person's decision (who may edit the text first), unless
    the twin's policy always allows memories in that namespace (`Twin.always_remember`)."""

    action_type: Literal["ActionRemember"] = "ActionRemember"
    text: str = Field(min_length=1, max_length=8000)
    namespace: str | None = Field(default=None, max_length=64)
    kb: str = Field(default="mind", max_length=32)
    why: str = Field(default="", max_length=2000)


class ActionReadDocument(Body):
    """Convert and chunk an uploaded or attached file (the memory worker; nothing is stored, no
    approval). `then_store`: an upload, whose next step is the (gated) ActionStoreDocument."""

    action_type: Literal["ActionReadDocument"] = "ActionReadDocument"
    document: DocumentRef
    namespace: str | None = Field(default=None, max_length=64)
    kb: str = Field(default="domain", max_length=32)
    then_store: bool = False


class ActionStoreDocument(Body):
    """Store a read document's chunks in memory: always a person's decision, which may change the
    namespace and knowledge base."""

    action_type: Literal["ActionStoreDocument"] = "ActionStoreDocument"
    document: DocumentRef
    parsed: ParsedDocument
    namespace: str = Field(max_length=64)
    kb: str = Field(default="domain", max_length=32)


class ActionTool(Body):
    action_type: Literal["ActionTool"] = "ActionTool"
    tool_name: str = Field(min_length=1, max_length=64)
    args: dict[str, Any] = Field(default_factory=dict)


class ActionBuildTool(Body):
    action_type: Literal["ActionBuildTool"] = "ActionBuildTool"
    tool_name: str = Field(min_length=1, max_length=64)
    language: Literal["python", "rust"]
    code: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    description: str = Field(max_length=4000)
    args_schema: dict[str, Any] | None = None


class ActionSelfImprove(Body):
    action_type: Literal["ActionSelfImprove"] = "ActionSelfImprove"
    new_prompt: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    rationale: str = Field(max_length=4000)


class ActionBudget(Body):
    """The next LLM call would cross a budget (bus_schemas/budgets.py): decided by the planner, never
    a model, and always a person's decision: approve this one call, approve and raise the limit
    (`raise_to`, set from the approval's changes), or deny (the twin answers the budget is spent)."""

    action_type: Literal["ActionBudget"] = "ActionBudget"
    scope: str = Field(max_length=140)
    period: Literal["day", "month"]
    unit: Literal["tokens", "money"]
    limit: float = Field(ge=0)
    spent: float = Field(ge=0)
    # The next call's estimate: its prompt's tokens plus the twin's expected reply (or its price).
    estimate: float = Field(ge=0)
    ceiling: float | None = Field(default=None, ge=0)
    currency: str = Field(default="USD", max_length=8)
    raise_to: float | None = Field(default=None, gt=0)


class ActionAskTwin(Body):
    """Ask another twin a question as a step of this job: a sub-job of its own (planner/subjobs.py),
    run under the stricter of the two twins' policies; its answer is this step's observation. The
    target must be in the caller's `TwinSettings.may_ask`."""

    action_type: Literal["ActionAskTwin"] = "ActionAskTwin"
    twin_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    message: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)


class ActionHandoff(Body):
    """Hand the conversation to another twin (in the caller's `may_ask`): the session's next messages
    go to it (records/sessions.py SessionTwins)."""

    action_type: Literal["ActionHandoff"] = "ActionHandoff"
    twin_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    reason: str | None = Field(default=None, max_length=2000)


class ActionResponse(Body):
    action_type: Literal["ActionResponse"] = "ActionResponse"
    content: str = Field(max_length=MAX_TEXT_CHARS)


Action = Annotated[
    ActionMemory
    | ActionTool
    | ActionBuildTool
    | ActionSelfImprove
    | ActionRemember
    | ActionReadDocument
    | ActionStoreDocument
    | ActionBudget
    | ActionAskTwin
    | ActionHandoff
    | ActionResponse,
    Field(discriminator="action_type"),
]


class PlanAction(Body):
    action: Action
    raw_decision: str = Field(max_length=MAX_TEXT_CHARS)
    decided_by: str = Field(description="'deterministic' or 'llm:<provider>/<model>'")
    step: int = Field(default=1, ge=1)
