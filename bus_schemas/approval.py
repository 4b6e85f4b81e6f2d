"""Human approval: an explicit decision bound to one pending request, never free text."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from .actions import Action
from .envelope import Body


class ApprovalRequest(Body):
    approval_id: str = Field(min_length=1, max_length=64)
    action: Action
    reason: str = Field(max_length=4000)
    policy: str = Field(max_length=200, description="which policy asks for this approval")
    expires_at: datetime | None = None


class ApprovalDecision(Body):
    approval_id: str = Field(min_length=1, max_length=64)
    approved: bool
    decided_by: str = Field(min_length=1, max_length=128)
    reason: str | None = Field(default=None, max_length=4000)
    always_allow: bool = False
