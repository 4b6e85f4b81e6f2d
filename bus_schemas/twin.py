"""Twins: named agents with a prompt, a provider, and a policy (KV `pagi_twins`, key = twin id)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from .evals import EvalGate
from .mcp import MAX_POLICY_ENTRIES, McpToolRef
from .memory import NAMESPACE_PATTERN
from .subjects import TOKEN_RE

TwinStatus = Literal["idle", "thinking", "busy"]
MAX_AVATAR_BYTES = 2 * 1024 * 1024
MAX_PROMPT_CHARS = 32_000


class TwinSettings(BaseModel):
    """What a person may set on a twin (create and update bodies share it)."""

    model_config = ConfigDict(extra="forbid")

    codename: str = Field(min_length=1, max_length=80)
    designation: str = Field(default="", max_length=200)
    mission: str = Field(default="", max_length=4000)
    # A data: URL (png, jpeg, gif, webp, svg) of at most 2 MB once decoded.
    avatar: str | None = Field(default=None, max_length=3 * 1024 * 1024)
    directive_logic: str = Field(default="", max_length=MAX_PROMPT_CHARS)
    provider: str | None = Field(default=None, max_length=40)
    model: str | None = Field(default=None, max_length=200)
    # For self-hosted endpoints (Ollama, vLLM, LM Studio, a Llama host); None: the provider's default.
    base_url: str | None = Field(default=None, max_length=500, pattern=r"^https?://")
    temperature: float = Field(default=0.3, ge=0.0, le=1.5)
    token_limit: int = Field(default=16_000, ge=16_000, le=128_000)
    step_limit: int = Field(default=6, ge=1, le=50)
    approval_timeout_s: float = Field(default=600.0, ge=5.0, le=7 * 24 * 3600.0)
    allowed_tools: list[str] = Field(
        default_factory=lambda: ["command_exec", "python", "file_write", "file_read", "list_files", "vector_query"]
    )
    always_allow: list[str] = Field(default_factory=list, description="tools run without asking, for this twin")
    # Tools of registered MCP servers this twin may ask to use: `server/tool`, or `server/*` for all of
    # a server's tools (bus_schemas/mcp.py). A server not (yet) registered may be named; the twin's
    # view lists it in `mcp_unknown_servers`. Every call still asks a human first.
    mcp_tools: list[McpToolRef] = Field(default_factory=list, max_length=MAX_POLICY_ENTRIES)
    code_generation: bool = True
    # Where this twin's memory searches look when the action names no namespace.
    memory_namespace: str = Field(default="default", pattern=TOKEN_RE.pattern)
    # Namespaces this twin's proposed memories (ActionRemember) are stored in without asking; off
    # (empty) by default, set by "always allow memories in this namespace" on an approval.
    always_remember: list[Annotated[str, Field(pattern=NAMESPACE_PATTERN)]] = Field(
        default_factory=list, max_length=MAX_POLICY_ENTRIES
    )
    # Self-improvements are run against this eval set first (bus_schemas/evals.py); with a minimum pass
    # rate, one below it is never offered for approval.
    eval_gate: EvalGate | None = None
    # Twins this one may ask a question (ActionAskTwin, a sub-job) or hand the conversation to
    # (ActionHandoff); empty: neither.
    may_ask: list[Annotated[str, Field(pattern=TOKEN_RE.pattern, max_length=64)]] = Field(
        default_factory=list, max_length=MAX_POLICY_ENTRIES
    )
    # How deep a tree of sub-jobs started from this twin may grow (1: it may ask, the asked may not).
    max_depth: int = Field(default=3, ge=1, le=10)


class TwinWrite(TwinSettings):
    """Create/update body: the API key is write-only."""

    api_key: SecretStr | None = Field(default=None, max_length=512)

    @model_validator(mode="before")
    @classmethod
    def _served_only(cls, raw: Any) -> Any:
        # `mcp_unknown_servers` is served (TwinView), never set: a client that sends back the twin it
        # read (the console's settings form) is not refused for it.
        if isinstance(raw, dict) and "mcp_unknown_servers" in raw:
            return {k: v for k, v in raw.items() if k != "mcp_unknown_servers"}
        return raw


class TwinCreate(TwinWrite):
    """`POST /v1/twins`: the settings and the new twin's id."""

    id: str = Field(pattern=TOKEN_RE.pattern)


class Twin(TwinSettings):
    """As stored. The API key is kept encrypted (`api_key_sealed`) and never returned."""

    id: str = Field(pattern=TOKEN_RE.pattern)
    api_key_sealed: str | None = None
    # The user who made a private twin; None for a shared twin (changed by admins only: records/access.py).
    owner: str | None = Field(default=None, max_length=128)
    # Built tool -> the artifact digest a human said "always allow" for: a rebuilt tool (another
    # digest) asks again. Built-ins are pinned by name alone (their code is PAGI's). Set by the
    # records (records/twins.py), never by a request body; old records without it read as {}.
    always_allow_pins: dict[str, str] = Field(default_factory=dict)
    # The `pagi_prompts` version `directive_logic` was last set from (a self-improvement or a
    # rollback), kept in the same record so the prompt and its version number change in one write.
    prompt_version: int | None = Field(default=None, ge=1)
    created_at: datetime
    updated_at: datetime


class TwinView(TwinSettings):
    """As served by the edge: everything but the key, which is only said to be set or not."""

    id: str
    has_api_key: bool
    owner: str | None = None  # None: a shared twin
    # Servers named in `mcp_tools` that are not registered (now): allowed, and said so.
    mcp_unknown_servers: list[str] = Field(default_factory=list)
    status: TwinStatus = "idle"
    created_at: datetime
    updated_at: datetime


class PromptVersion(BaseModel):
    """KV `pagi_prompts`, key `<twin>.<version>`; the twin record's `prompt_version` names the active one."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1)
    prompt: str = Field(max_length=MAX_PROMPT_CHARS)
    rationale: str = ""
    author: str
    created_at: datetime
