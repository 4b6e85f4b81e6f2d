"""MCP servers an operator registered (KV `pagi_mcp_servers`, key = the server's name), and the shape
of a twin's MCP policy entries (`server/tool` or `server/*`).

A stdio server is a program run on a host (inside the sandbox, by the tool worker); an http server
is a Streamable HTTP endpoint. Header values (bearer tokens, API keys) are sealed at rest with
`pagi.secrets` and never served: a view says only which header names are set.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Annotated, Any, Final, Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, field_validator, model_validator

from .tool import Isolation

SERVER_NAME_PATTERN: Final = r"^[a-z][a-z0-9_-]{0,31}$"
# MCP's own rule for tool names (1-128 of A-Z a-z 0-9 _ - .), or `*` for every tool of the server.
MCP_TOOL_PATTERN: Final = r"^[a-z][a-z0-9_-]{0,31}/(\*|[A-Za-z0-9_.-]{1,128})$"
# An HTTP field name (RFC 9110 token).
HEADER_NAME_PATTERN: Final = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$"
# Set by the client library itself: a registration may not override them.
RESERVED_HEADERS: Final = frozenset(
    {"host", "content-length", "content-type", "transfer-encoding", "connection", "accept",
     "mcp-session-id", "mcp-protocol-version", "last-event-id"}
)  # fmt: skip
# What a shell would read as more than one word or program: a command is one program, never a line.
_SHELL_CHARS: Final = re.compile(r"[\s;&|<>`$(){}\[\]*?!~'\"\\#]")
MAX_ARGS: Final = 64
MAX_HEADERS: Final = 32

McpTransport = Literal["stdio", "http"]
McpToolRef = Annotated[str, StringConstraints(pattern=MCP_TOOL_PATTERN)]
MAX_POLICY_ENTRIES: Final = 256


def policy_server(entry: str) -> str:
    """The server an `mcp_tools` entry names (`time/get_current_time` -> `time`)."""
    return entry.split("/", 1)[0]


class McpServerSettings(BaseModel):
    """What an operator gives at registration, minus the header values (shared by write and record)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=SERVER_NAME_PATTERN, description="lowercase letter, then up to 31 of a-z 0-9 _ -")
    transport: McpTransport
    # stdio: one program and its arguments, each a separate string (no shell ever reads them).
    command: str | None = Field(default=None, min_length=1, max_length=500)
    args: list[Annotated[str, StringConstraints(max_length=4096)]] = Field(default_factory=list, max_length=MAX_ARGS)
    # stdio: the sandbox gives it a network only when registered so (the console shows it).
    network: bool = False
    # stdio: absolute host folders the server may use, bound read-write at the same path (a
    # filesystem server's root). Checked again when the server starts: they must exist then.
    paths: list[Annotated[str, StringConstraints(max_length=1000)]] = Field(default_factory=list, max_length=16)
    # http: the Streamable HTTP endpoint.
    url: str | None = Field(default=None, max_length=2000)
    description: str = Field(default="", max_length=1000)

    @field_validator("command")
    @classmethod
    def _one_program(cls, command: str | None) -> str | None:
        if command is not None and _SHELL_CHARS.search(command):
            raise ValueError(
                "must be one program (a name on PATH or a path), not a shell string: "
                "put its arguments in args, one per item"
            )
        return command

    @field_validator("args")
    @classmethod
    def _no_nul(cls, args: list[str]) -> list[str]:
        if any("\0" in a for a in args):
            raise ValueError("an argument may not contain a NUL character")
        return args

    @field_validator("paths")
    @classmethod
    def _absolute_folders(cls, paths: list[str]) -> list[str]:
        for path in paths:
            if not path.startswith("/") or "\0" in path:
                raise ValueError(f"{path!r} must be an absolute folder path")
            parts = path.rstrip("/").split("/")
            if path.rstrip("/") == "" or any(p in (".", "..") for p in parts):
                raise ValueError(f"{path!r} must be a folder below / (not / itself, no . or ..)")
        return paths

    @field_validator("url")
    @classmethod
    def _absolute_http(cls, url: str | None) -> str | None:
        if url is None:
            return None
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an absolute http:// or https:// URL with a host")
        if parts.username is not None or parts.password is not None:
            raise ValueError("must not carry credentials (user:password@): give them as a header")
        return url.strip()

    @model_validator(mode="after")
    def _fits_transport(self) -> Self:
        if self.transport == "stdio":
            if self.command is None:
                raise ValueError("a stdio server needs a command")
            if self.url is not None:
                raise ValueError("a stdio server has no url (that is an http server)")
        else:
            if self.url is None:
                raise ValueError("an http server needs a url")
            if self.command is not None or self.args:
                raise ValueError("an http server has no command or args (that is a stdio server)")
            if self.network:
                raise ValueError("network is for stdio servers (an http server is reached over the network)")
            if self.paths:
                raise ValueError("paths are for stdio servers (the host's folders a sandboxed server may use)")
        return self


class McpServerWrite(McpServerSettings):
    """`POST /v1/mcp/servers`: the settings and, for http, headers whose values are write-only."""

    headers: dict[str, SecretStr] = Field(default_factory=dict, max_length=MAX_HEADERS)

    @field_validator("headers")
    @classmethod
    def _header_shapes(cls, headers: dict[str, SecretStr]) -> dict[str, SecretStr]:
        seen: set[str] = set()
        for name, value in headers.items():
            if not re.match(HEADER_NAME_PATTERN, name):
                raise ValueError(f"header name {name!r} is not an HTTP field name")
            if name.lower() in RESERVED_HEADERS:
                raise ValueError(f"header {name} is set by the MCP client itself")
            if name.lower() in seen:
                raise ValueError(f"header {name} is given twice")
            seen.add(name.lower())
            secret = value.get_secret_value()
            # The value is never echoed: it may be a secret.
            if len(secret) > 4096 or any(c in secret for c in "\r\n\0"):
                raise ValueError(f"header {name}'s value must be one line of at most 4096 characters")
        return headers

    @model_validator(mode="after")
    def _headers_are_http(self) -> Self:
        if self.headers and self.transport != "http":
            raise ValueError("headers are for http servers")
        return self


class McpServer(McpServerSettings):
    """As stored. Header values are sealed (`pagi.secrets`), one token per header name."""

    headers_sealed: dict[str, str] = Field(default_factory=dict)
    created_by: str = Field(max_length=128)
    created_at: datetime


class McpServerView(McpServerSettings):
    """As served (`GET /v1/mcp/servers`): which header names are set, never their values."""

    header_names: list[str] = Field(default_factory=list)
    created_by: str
    created_at: datetime
    # How it is doing on the host that runs it (None: no host has reported it yet).
    status: McpServerStatus | None = None


class McpServerList(BaseModel):
    servers: list[McpServerView]


# --- the tools a server offers ---------------------------------------------------------------------

# What every provider's tool calling accepts as a function name, and PAGI's tool names are.
PAGI_TOOL_NAME_MAX: Final = 64
_NOT_IN_NAME: Final = re.compile(r"[^a-z0-9_-]")


def pagi_tool_name(server: str, tool: str) -> str:
    """The name PAGI (the planner, a model's tool calling, the policy, the registry) knows an MCP tool
    by: `<server>__<tool>`, lower-cased, any other character as `_` (`time__get_current_time`). When
    that changed the server's name for it or is too long, a digest of the original keeps two tools of
    one server from ever sharing a name (`everything__longrunningoperation-3f2a9c`)."""
    plain = f"{server}__{_NOT_IN_NAME.sub('_', tool.lower())}"
    if plain == f"{server}__{tool}" and len(plain) <= PAGI_TOOL_NAME_MAX:
        return plain
    digest = hashlib.sha256(f"{server}/{tool}".encode()).hexdigest()[:6]
    return f"{plain[: PAGI_TOOL_NAME_MAX - 7]}-{digest}"


class McpTool(BaseModel):
    """One tool a registered server listed (KV `pagi_mcp_tools`, key = `name`), written by the host
    that runs the server (the tool worker) after `tools/list` and on `notifications/tools/list_changed`.
    `description`, `title` and `annotations` are the server's own words: untrusted text, shown to a
    person as coming from that server, never read as policy."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=PAGI_TOOL_NAME_MAX)  # pagi_tool_name(server, tool)
    server: str = Field(pattern=SERVER_NAME_PATTERN)
    tool: str = Field(min_length=1, max_length=128)  # the server's own name for it
    title: str | None = Field(default=None, max_length=200)
    description: str = Field(default="", max_length=8000)
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    output_schema: dict[str, Any] | None = None
    # readOnlyHint, destructiveHint, idempotentHint, openWorldHint, title: hints, never guarantees.
    annotations: dict[str, Any] = Field(default_factory=dict)
    # sha256 over the registration (transport, command/args or url, network) and this tool's name,
    # description and schemas: "always allow" pins to it, so a changed server or tool asks again.
    digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    listed_at: datetime


# The key in `pagi_mcp_tools` a server's status is kept under: tool names never start with `_`.
STATUS_PREFIX: Final = "_status."


def status_key(server: str) -> str:
    return f"{STATUS_PREFIX}{server}"


class McpNamed(BaseModel):
    """A resource or prompt a server offers: its own words, untrusted, for the console to show."""

    name: str = Field(max_length=200)
    description: str = Field(default="", max_length=2000)
    uri: str | None = Field(default=None, max_length=2000)


class McpServerStatus(BaseModel):
    """How a registered server is doing on the host that runs it (KV `pagi_mcp_tools`, key
    `status_key(server)`), written by the tool worker."""

    model_config = ConfigDict(extra="forbid")

    server: str = Field(pattern=SERVER_NAME_PATTERN)
    host: str
    running: bool
    isolation: Isolation
    network: bool = False
    protocol_version: str | None = None
    server_info: str | None = Field(default=None, max_length=400)
    tools: int = 0
    resources: list[McpNamed] = Field(default_factory=list, max_length=200)
    prompts: list[McpNamed] = Field(default_factory=list, max_length=200)
    restarts: int = 0
    last_error: str | None = Field(default=None, max_length=4000)
    # Where this server's isolation is weaker than a tool run's, and why.
    warning: str | None = Field(default=None, max_length=2000)
    updated_at: datetime


McpServerView.model_rebuild()  # its `status` is defined below it
