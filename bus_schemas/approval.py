"""Human approval: an explicit decision bound to one pending request, never free text."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .actions import Action
from .envelope import Body

ApprovalKind = Literal["memory", "tool", "build", "self_improve"]
ApprovalState = Literal["pending", "approved", "denied", "expired", "cancelled"]


class ApprovalRequest(Body):
    approval_id: str = Field(min_length=1, max_length=64)
    kind: ApprovalKind
    action: Action
    # What exactly would run, for a person: tool and arguments, the query, the code, the prompt diff.
    summary: str = Field(max_length=64_000)
    reason: str = Field(max_length=4000)
    policy: str = Field(max_length=200, description="which policy asks for this approval")
    expires_at: datetime


class ApprovalDecision(Body):
    approval_id: str = Field(min_length=1, max_length=64)
    approved: bool
    decided_by: str = Field(min_length=1, max_length=128)
    reason: str | None = Field(default=None, max_length=4000)
    # "Always allow this tool for this twin" (tool approvals only); revocable in the twin's policy.
    always: bool = False


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
