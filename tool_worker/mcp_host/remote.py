"""The link to a Streamable HTTP server, with the official SDK's client transport.

The server runs wherever its operator runs it, so there is no sandbox to put it in: its results say
`isolation: remote`. What PAGI does control is checked before every connection, not only at
registration: the URL against the operator's rules (records/mcp_servers.py; a name that resolves to an
internal address since it was registered is refused), and the sealed header values, opened here with
PAGI_MCP_SECRET_KEY (the only sealing key the tool worker holds) and never logged.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx2
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from bus_schemas.mcp import McpServer
from pagi.secrets import SecretsUnavailable
from records.mcp_servers import McpServerError, McpUrlSettings, check_server_url, header_values

from .link import Link, LinkFailed


@asynccontextmanager
async def http_link(server: McpServer, broken: asyncio.Event, on_refusal: Callable[[str], None]) -> AsyncIterator[Link]:
    """`broken` is set by the runner when the connection fails under a call (the server went away, or
    forgot our session after a restart); the link is then over and a new one initializes again.
    `on_refusal` hears each HTTP error status the server answers: the SDK reports only "an error
    response", and "401 Unauthorized" is what tells the operator the header is wrong."""
    assert server.url is not None
    try:
        await check_server_url(server.url, McpUrlSettings().policy())
        headers = header_values(server)
    except (McpServerError, SecretsUnavailable) as exc:
        raise LinkFailed(f"MCP server {server.name} is not called: {exc}") from exc

    async def over() -> str:
        await broken.wait()
        return f"MCP server {server.name} at {server.url} stopped answering"

    async def heard(response: httpx2.Response) -> None:
        if response.status_code >= 400:
            on_refusal(f"HTTP {response.status_code} {response.reason_phrase}".strip())

    http = create_mcp_http_client(headers=headers)
    http.event_hooks["response"].append(heard)
    async with (
        http as client,
        streamable_http_client(server.url, http_client=client) as streams,
    ):
        yield Link(streams, over)
