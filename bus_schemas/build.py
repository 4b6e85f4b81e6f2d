"""Requests to build a new tool from source, and their results."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .envelope import Body
from .limits import MAX_TEXT_CHARS

BuildFailure = Literal[
    "invalid_name",
    "invalid_schema",
    "queue_full",
    "timeout",
    "compile_error",
    "unavailable",
    "interrupted",
    "not_allowed",
    "not_approved",
]


class BuildRequest(Body):
    request_id: str = Field(min_length=1, max_length=64)
    approval_id: str | None = Field(default=None, max_length=64)
    tool_name: str = Field(min_length=1, max_length=64)
    language: Literal["python", "rust"]
    code: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    description: str = Field(default="", max_length=4000)
    args_schema: dict[str, Any] | None = None
    # Python only: the function the tool exposes, called with the arguments dict.
    entry_point: str = Field(default="main", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class BuildResult(Body):
    request_id: str = Field(min_length=1, max_length=64)
    tool_name: str
    success: bool
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    artifact_digest: str | None = None
    version: int | None = None
    error: str | None = None
    # Why a build did not succeed, for callers that branch on it.
    reason: BuildFailure | None = None


class BuildRunRecord(BaseModel):
    """KV `pagi_done`, key `build.<request_id>`: claimed before a build starts, completed with its result."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    state: Literal["running", "done"]
    result: BuildResult | None = None
    worker: str = ""
    updated_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
