"""The tool registry (KV `pagi_tools`): one entry per tool, built-ins included, as everyone reads it.

The tool worker writes the built-ins' entries at start and passes them in as `builtins`, so it answers
for them from code even before the bucket has them; the build worker registers built tools; the edge
and the planner read entries. The bucket's one other key is the tool worker's sandbox status
(`SANDBOX_STATUS_KEY`), which is not a tool.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection, Mapping
from typing import Final

from pydantic import ValidationError

from bus_schemas.mcp import McpTool
from bus_schemas.tool import BUILTIN_TOOL_NAMES, SANDBOX_STATUS_KEY, TOOL_NAME_RE, SandboxStatus, ToolRecord

from .stores import KV


class ToolTaken(PermissionError):
    """A build would replace a tool someone else built."""


class ToolRegistry:
    def __init__(self, kv: KV, builtins: Mapping[str, ToolRecord] | None = None) -> None:
        self.kv = kv
        self.builtins = dict(builtins or {})

    async def publish_builtins(self) -> None:
        """Write the built-ins' entries so the edge and the planner see their schemas."""
        for name, record in self.builtins.items():
            await self.kv.put(name, record.model_dump_json().encode())

    async def get(self, name: str) -> ToolRecord | None:
        if name in self.builtins:
            return self.builtins[name]
        if not TOOL_NAME_RE.match(name):  # other keys of the bucket (the sandbox status) are not tools
            return None
        found = await self.kv.get(name)
        return None if found is None else ToolRecord.model_validate_json(found[0])

    async def put_built(
        self, record: ToolRecord, may_replace: Callable[[str | None], bool] | None = None
    ) -> ToolRecord:
        """Register a build as the next version of its tool; compare-and-set, so copies of the build
        worker racing on one name still hand out each version once. `may_replace(builder)` says
        whether this build may replace the version `builder` built (`ToolTaken` if not)."""
        if record.name in BUILTIN_TOOL_NAMES or record.kind != "built":
            raise ValueError(f"{record.name!r} is a built-in tool name")
        while True:
            found = await self.kv.get(record.name)
            if found is None:
                first = record.model_copy(update={"version": 1})
                if await self.kv.create(record.name, first.model_dump_json().encode()):
                    return first
                continue
            previous = ToolRecord.model_validate_json(found[0])
            if may_replace is not None and not may_replace(previous.built_by):
                raise ToolTaken(taken_message(record.name, previous))
            nxt = record.model_copy(update={"version": previous.version + 1})
            if await self.kv.update(record.name, nxt.model_dump_json().encode(), found[1]):
                return nxt

    async def entries(self, only: Collection[str] | None = None) -> list[ToolRecord]:
        """Every tool, or those named in `only`: the built-ins first, then the bucket's by name."""
        records = [r for name, r in self.builtins.items() if only is None or name in only]
        for key in sorted(await self.kv.keys()):
            if key in self.builtins or (only is not None and key not in only):
                continue
            if (record := await self.get(key)) is not None:
                records.append(record)
        return records

    async def sandbox_status(self) -> SandboxStatus | None:
        """What the tool worker last said about its sandbox (None: no tool worker has started)."""
        found = await self.kv.get(SANDBOX_STATUS_KEY)
        return None if found is None else SandboxStatus.model_validate_json(found[0])


def taken_message(name: str, previous: ToolRecord) -> str:
    return (
        f"tool {name!r} was built by {previous.built_by}: only they or an admin may build over it; "
        "build yours under another name"
    )


# What separates the server from the tool in an MCP tool's PAGI name (`bus_schemas.mcp.pagi_tool_name`);
# a built tool's name may not contain it, so it can never shadow one.
MCP_NAME_SEPARATOR = "__"
LIST_TTL_S: Final = 0.5


def is_mcp_name(name: str) -> bool:
    return MCP_NAME_SEPARATOR in name


class McpToolCatalog:
    """The tools registered MCP servers list (KV `pagi_mcp_tools`, key = the PAGI name), written by
    the tool worker's MCP host and read by the planner, the edge and the worker's policy re-check."""

    def __init__(self, kv: KV) -> None:
        self.kv = kv
        self._listing = asyncio.Lock()
        self._listed: tuple[float, list[McpTool]] | None = None

    async def get(self, name: str) -> McpTool | None:
        if not is_mcp_name(name):
            return None
        found = await self.kv.get(name)
        if found is None:
            return None
        try:
            return McpTool.model_validate_json(found[0])
        except ValidationError:
            return None  # not a tool record (the host's status keys share the bucket)

    async def list(self, only: Collection[str] | None = None) -> list[McpTool]:
        """Every listed tool (or those named in `only`), by server then name, as read at most
        `LIST_TTL_S` ago: listing the bucket's keys opens a consumer on the server, so callers
        polling `GET /v1/tools` share one read instead of each piling up consumers."""
        async with self._listing:
            now = time.monotonic()
            if self._listed is None or now - self._listed[0] >= LIST_TTL_S:
                tools = [t for key in sorted(await self.kv.keys()) if (t := await self.get(key)) is not None]
                self._listed = (now, sorted(tools, key=lambda t: (t.server, t.name)))
            listed = self._listed[1]
        return listed if only is None else [t for t in listed if t.name in only]
