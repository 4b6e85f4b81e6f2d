"""A server's tools into KV `pagi_mcp_tools` (one `McpTool` per tool, key = `pagi_tool_name`), the
keys of tools no longer listed deleted, and the server's status beside them."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime
from typing import Any

import mcp_types as types
from pydantic import ValidationError

from bus_schemas.mcp import STATUS_PREFIX, McpServer, McpServerStatus, McpTool, pagi_tool_name, status_key
from pagi.stores import KVStore

log = logging.getLogger("pagi.tool_worker.mcp")


def tool_digest(server: McpServer, tool: types.Tool) -> str:
    """What "always allow" pins to: the registration's transport, program, network and folders, and
    the tool's name, description and schemas (a changed server or tool asks again)."""
    pinned = {
        "transport": server.transport,
        "command": server.command,
        "args": server.args,
        "url": server.url,
        "network": server.network,
        "paths": server.paths,
        "tool": tool.name,
        "description": tool.description or "",
        "input_schema": tool.input_schema,
        "output_schema": tool.output_schema,
    }
    return hashlib.sha256(json.dumps(pinned, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def to_record(server: McpServer, tool: types.Tool, now: datetime) -> McpTool:
    annotations: dict[str, Any] = tool.annotations.model_dump(exclude_none=True) if tool.annotations else {}
    return McpTool(
        name=pagi_tool_name(server.name, tool.name),
        server=server.name,
        tool=tool.name,
        title=(tool.title or None) and tool.title[:200],
        description=(tool.description or "")[:8000],
        input_schema=dict(tool.input_schema) or {"type": "object"},
        output_schema=dict(tool.output_schema) if tool.output_schema else None,
        annotations=annotations,
        digest=tool_digest(server, tool),
        listed_at=now,
    )


async def listed_keys(kv: KVStore, server: str) -> set[str]:
    """The keys of the tools this server has in KV now (read back: two servers' names may share a prefix)."""
    keys = set()
    for key in await kv.keys():
        if key.startswith(STATUS_PREFIX):
            continue
        record = await kv.get_model(key, McpTool)
        if record is not None and record.server == server:
            keys.add(key)
    return keys


async def publish_tools(kv: KVStore, server: McpServer, tools: list[types.Tool]) -> list[McpTool]:
    now = datetime.now(UTC)
    records: list[McpTool] = []
    for tool in tools:
        try:
            records.append(to_record(server, tool, now))
        except ValidationError as exc:
            log.warning("MCP server %s: tool %r not listed: %s", server.name, tool.name[:128], exc)
    stale = await listed_keys(kv, server.name) - {r.name for r in records}
    for record in records:
        await kv.put(record.name, record.model_dump_json().encode())
    for key in stale:
        await kv.delete(key)
    return records


async def withdraw(kv: KVStore, server: str) -> None:
    """A removed server: its tools and its status go."""
    for key in await listed_keys(kv, server):
        await kv.delete(key)
    await kv.delete(status_key(server))


async def put_status(kv: KVStore, status: McpServerStatus) -> None:
    await kv.put(status_key(status.server), status.model_dump_json().encode())
