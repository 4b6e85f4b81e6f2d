"""Sandboxed tool runs and their results."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .envelope import Body

Isolation = Literal["bwrap", "none"]


class ToolRun(Body):
    request_id: str = Field(min_length=1, max_length=64)
    approval_id: str | None = Field(default=None, max_length=64)
    tool_name: str = Field(min_length=1, max_length=64)
    args: dict[str, Any] = Field(default_factory=dict)
    timeout_s: float | None = Field(default=None, gt=0, le=600)


class ToolResult(Body):
    request_id: str = Field(min_length=1, max_length=64)
    tool_name: str
    exit_code: int
    stdout: str = ""
    stderr: str = ""
    duration_ms: float = 0.0
    truncated: bool = False
    isolation: Isolation
    files_changed: list[str] = Field(default_factory=list)
    error: str | None = None
