"""Tool worker settings from the environment: the sandbox's (`SandboxSettings`), and the worker's own."""

from __future__ import annotations

from pydantic import Field

from sandbox.settings import SandboxSettings


class ToolSettings(SandboxSettings):
    # A tool.run may ask for a longer wall clock than the default, up to this.
    max_timeout_s: float = Field(default=60.0, gt=0, le=600, alias="TOOL_MAX_TIMEOUT_S")
    # Re-check the twin's allowed tools and the approval in KV, not only in the planner.
    check_policy: bool = Field(default=True, alias="PAGI_TOOL_CHECK_POLICY")
    max_concurrent: int = Field(default=4, ge=1, alias="TOOL_MAX_CONCURRENT")
