"""Registered MCP servers in KV (`pagi_mcp_servers`, key = the server's name): the edge registers and
removes them (admins only: records/access.py), the tool worker reads them to run or call them.

Where an http server may point follows the provider URL rules (records/endpoints.py) with its own
operator switches, since an MCP server is called by the tool worker, not the planner:
`PAGI_MCP_ALLOW_PRIVATE=1` allows internal addresses (a server on this machine or network),
`PAGI_MCP_ALLOWED_URLS` lists URLs allowed wherever they resolve.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from bus_schemas.mcp import McpServer, McpServerStatus, McpServerView, McpServerWrite, policy_server, status_key
from bus_schemas.streams import MCP_SERVERS
from pagi.bus import Bus
from pagi.secrets import MCP_HEADERS
from pagi.stores import KVStore

from .endpoints import EndpointPolicy, EndpointRefused, check_base_url, normalize

ALLOW_PRIVATE_ENV: Final = "PAGI_MCP_ALLOW_PRIVATE"
ALLOWED_URLS_ENV: Final = "PAGI_MCP_ALLOWED_URLS"


class McpUrlSettings(BaseSettings):
    """The operator's switches for http MCP server URLs (read where a registration is checked)."""

    model_config = SettingsConfigDict(extra="ignore", env_ignore_empty=True)

    allow_private: bool = Field(default=False, alias=ALLOW_PRIVATE_ENV)
    allowed_urls: str = Field(default="", alias=ALLOWED_URLS_ENV)

    def policy(self) -> EndpointPolicy:
        listed = (u for u in self.allowed_urls.split(",") if u.strip())
        return EndpointPolicy(allowed=frozenset(normalize(u) for u in listed), allow_private=self.allow_private)


class McpServerError(ValueError):
    """A registration refused; `field` names what was wrong (the edge answers 400 with it)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.problem = message


class McpServerExists(McpServerError):
    def __init__(self, name: str) -> None:
        super().__init__("name", f"an MCP server named {name!r} is already registered")


async def check_server_url(url: str, policy: EndpointPolicy) -> None:
    """An http server's URL, by the provider URL rules: no internal address unless allowed. The
    shape (absolute http(s), a host, no credentials) is the model's; what is left is where it points."""
    try:
        await check_base_url(url, policy)
    except EndpointRefused:
        raise McpServerError(
            "url",
            f"{url!r} points at an internal address (this machine, a private network, link-local such as "
            f"a cloud metadata service, or a name resolving there): refused unless the operator allows it "
            f"with {ALLOW_PRIVATE_ENV}=1 or lists the URL in {ALLOWED_URLS_ENV}",
        ) from None


def view(server: McpServer) -> McpServerView:
    fields = server.model_dump(exclude={"headers_sealed"})
    return McpServerView(**fields, header_names=sorted(server.headers_sealed))


def header_values(server: McpServer) -> dict[str, str]:
    """The headers in clear, for the process that calls the server (it needs `PAGI_MCP_SECRET_KEY`)."""
    return {name: MCP_HEADERS.unseal(token) for name, token in server.headers_sealed.items()}


def mcp_tool_allowed(mcp_tools: list[str], server: str, tool: str) -> bool:
    """Whether a twin's `mcp_tools` lets it ask for `tool` of `server` (`server/tool` or `server/*`).
    Asking is all it allows: the call itself still waits for a human's approval."""
    return f"{server}/{tool}" in mcp_tools or f"{server}/*" in mcp_tools


def unknown_servers(entries: list[str], registered: set[str]) -> list[str]:
    """Servers a twin's `mcp_tools` names that are not registered, in the order first named."""
    unknown: list[str] = []
    for server in (policy_server(e) for e in entries):
        if server not in registered and server not in unknown:
            unknown.append(server)
    return unknown


class McpServerStore:
    def __init__(self, kv: KVStore) -> None:
        self.kv = kv

    @classmethod
    async def open(cls, bus: Bus) -> McpServerStore:
        return cls(await bus.kv(MCP_SERVERS))

    async def create(self, write: McpServerWrite, created_by: str, policy: EndpointPolicy | None = None) -> McpServer:
        """Register a server; refuses a name already registered (`McpServerExists`) and, for http, a
        URL the rules refuse. Header values are sealed before anything is written."""
        if write.url is not None:
            await check_server_url(write.url, policy if policy is not None else McpUrlSettings().policy())
        sealed = {name: MCP_HEADERS.seal(value.get_secret_value()) for name, value in write.headers.items()}
        server = McpServer(
            **write.model_dump(exclude={"headers"}),
            headers_sealed=sealed,
            created_by=created_by,
            created_at=datetime.now(UTC),
        )
        if not await self.kv.create(server.name, server.model_dump_json().encode()):
            raise McpServerExists(server.name)
        return server

    async def get(self, name: str) -> McpServer | None:
        return await self.kv.get_model(name, McpServer)

    async def list(self) -> list[McpServer]:
        servers = []
        for key in sorted(await self.kv.keys()):
            server = await self.kv.get_model(key, McpServer)
            if server is not None:
                servers.append(server)
        return servers

    async def names(self) -> set[str]:
        return set(await self.kv.keys())

    async def delete(self, name: str) -> bool:
        if await self.kv.get(name) is None:
            return False
        await self.kv.delete(name)
        return True


async def server_status(mcp_tools: KVStore, server: str) -> McpServerStatus | None:
    """How `server` is doing, as the host running it last wrote (KV `pagi_mcp_tools`); None when no
    host has reported it, or the record is unreadable."""
    found = await mcp_tools.get(status_key(server))
    if found is None:
        return None
    try:
        return McpServerStatus.model_validate_json(found[0])
    except ValidationError:
        return None
