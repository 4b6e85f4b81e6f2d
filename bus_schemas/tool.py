"""Sandboxed tool runs, their results, and the tool registry's entries."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from .envelope import Body

# "remote": a call to an http MCP server, which runs wherever its operator runs it, not in PAGI's sandbox.
Isolation = Literal["bwrap", "none", "remote"]
# What bounds the number of processes one session may run: its own host uid, one uid every session of
# the worker shares (root worker without a uid range), or the worker's own uid (a non-root worker).
PidsScope = Literal["session_uid", "shared_uid", "worker_uid"]
ToolKind = Literal["builtin", "built"]
ToolLanguage = Literal["python", "rust"]

# The seed's rule for tool names; built tools may not take a built-in's name.
TOOL_NAME_RE: Final = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
BUILTIN_TOOL_NAMES: Final = frozenset(
    {"command_exec", "python", "file_write", "file_read", "list_files", "vector_query"}
)

# Why a run was stopped or refused (ToolResult.reason); None when the tool ran to its own end.
ToolFailure = Literal[
    "timeout",
    "output_limit",
    "cpu_limit",
    "file_size_limit",
    "workspace_quota",
    "disk_full",
    "sandbox_required",
    "spawn_failed",
    "invalid_arguments",
    "unknown_tool",
    "path_escape",
    "not_allowed",
    "not_approved",
    "interrupted",
    "unavailable",
]


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
    # Removed by the sandbox to bring the workspace back under its quota (created or changed by this run).
    files_removed: list[str] = Field(default_factory=list)
    error: str | None = None
    reason: ToolFailure | None = None


class ToolRecord(BaseModel):
    """One entry of the tool registry (KV bucket `pagi_tools`, key = name); `args_schema` goes to the LLM.

    A built tool receives its arguments as one JSON object on stdin; its stdout is the result.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=TOOL_NAME_RE.pattern)
    description: str = Field(default="", max_length=4000)
    args_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    kind: ToolKind
    version: int = Field(default=1, ge=1)
    artifact_digest: str | None = Field(default=None, pattern=r"^sha256:[0-9a-f]{64}$")
    language: ToolLanguage | None = None
    # Python: the function called with the arguments dict; its return value is printed.
    entry_point: str | None = None
    # Built tools: who built it (the session's owner; None for a tool built before this was
    # recorded) and for which twin. Only its builder or an admin may build over it (records/access.py).
    built_by: str | None = Field(default=None, max_length=128)
    twin_id: str | None = Field(default=None, max_length=64)
    updated_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class ToolRunRecord(BaseModel):
    """KV `pagi_done`, key `tool.<request_id>`: claimed before a tool runs, completed with its result,
    so a redelivered tool.run never runs the tool a second time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    state: Literal["running", "done"]
    result: ToolResult | None = None
    worker: str = ""
    updated_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


# KV `pagi_tools`, this key: the tool worker's sandbox status, for /health. Not a tool name (TOOL_NAME_RE).
SANDBOX_STATUS_KEY: Final = "_sandbox"


class SandboxStatus(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    isolation: Isolation
    require_sandbox: bool
    # Set when isolation is not bwrap: why, in words a person can act on.
    warning: str | None = None
    # What is in force beyond isolation (defaults: what an older worker, which did not say, had).
    userns_disabled: bool = False
    seccomp: bool = False
    pids_scope: PidsScope = "shared_uid"
    workspace_free_bytes: int | None = None
    host: str = ""
    updated_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
