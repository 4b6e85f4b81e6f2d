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
    # The MCP host: registered stdio servers run here (one long-lived sandboxed process each).
    mcp_enabled: bool = Field(default=True, alias="PAGI_MCP_HOST")
    mcp_init_timeout_s: float = Field(default=20.0, gt=0, le=300, alias="PAGI_MCP_INIT_TIMEOUT_S")
    # How often the server registry is read again (a server added or removed is started or stopped).
    mcp_poll_s: float = Field(default=2.0, gt=0, le=60, alias="PAGI_MCP_POLL_S")
    # A server's lifetime limits: memory (address space) and CPU seconds before it is killed and restarted.
    mcp_memory_bytes: int = Field(default=8 * 1024**3, ge=256 * 1024**2, alias="PAGI_MCP_MEMORY_BYTES")
    mcp_cpu_s: int = Field(default=3600, ge=10, alias="PAGI_MCP_CPU_S")
