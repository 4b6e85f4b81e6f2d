"""The MCP host of one tool worker: one `ServerRunner` per registered server (stdio, run in the
sandbox; or Streamable HTTP, connected to), started and stopped as the registry (KV
`pagi_mcp_servers`) changes, read again every `poll_s`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

from bus_schemas.mcp import STATUS_PREFIX, McpServer, McpTool
from bus_schemas.tool import Isolation
from pagi.stores import KVStore
from records.mcp_servers import McpServerStore
from sandbox import RunResult, Sandbox

from .call import call_tool
from .listing import withdraw
from .supervisor import HostLimits, ProgressSink, ServerRunner
from .transport import StderrSink

log = logging.getLogger("pagi.tool_worker.mcp")


class McpHost:
    def __init__(
        self, servers: McpServerStore, tools: KVStore, sandbox: Sandbox, *, data_dir: Path | None = None,
        limits: HostLimits | None = None, poll_s: float = 2.0,
    ) -> None:  # fmt: skip
        self.servers = servers
        self.tools = tools
        self.sandbox = sandbox
        self.data_dir = data_dir
        self.limits = limits or HostLimits()
        self.poll_s = poll_s
        self.runners: dict[str, ServerRunner] = {}
        self._watch: asyncio.Task[None] | None = None
        # The poll and a call for an unknown server may both sync: one at a time.
        self._syncing = asyncio.Lock()

    def state_dir(self, server: str) -> Path:
        # Beside the session workspaces, reachable by the sandbox uid like them.
        return self.sandbox.root / "mcp" / server

    async def start(self) -> None:
        await self.sync()
        await self.withdraw_unregistered()
        self._watch = asyncio.create_task(self._poll(), name="mcp-registry")

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        await asyncio.gather(*(r.stop() for r in self.runners.values()), return_exceptions=True)
        self.runners.clear()

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                await self.sync()
            except Exception:
                log.exception("MCP host: reading the server registry failed")

    async def sync(self) -> None:
        """Start a runner for each server registered, restart one whose registration changed,
        stop (and withdraw the tools of) one removed."""
        async with self._syncing:
            await self._sync()

    async def _sync(self) -> None:
        registered = {s.name: s for s in await self.servers.list()}
        for name in list(self.runners):
            if name not in registered or _settings(registered[name]) != _settings(self.runners[name].server):
                await self.runners.pop(name).stop()
                await withdraw(self.tools, name)
                log.info("MCP server %s stopped (%s)", name, "removed" if name not in registered else "changed")
        for name, server in registered.items():
            if name not in self.runners:
                self.sandbox.root.joinpath("mcp").mkdir(mode=0o711, exist_ok=True)
                state = self.state_dir(name)
                runner = ServerRunner(server, self.sandbox, self.tools, state, self.data_dir, self.limits)
                self.runners[name] = runner
                runner.start()
                where = server.url if server.transport == "http" else f"network: {server.network}"
                log.info("MCP server %s starting (%s)", name, where)

    async def withdraw_unregistered(self) -> None:
        """Tools and statuses left by servers removed while no worker ran."""
        registered = await self.servers.names()
        left = set()
        for key in await self.tools.keys():
            if key.startswith(STATUS_PREFIX):
                left.add(key.removeprefix(STATUS_PREFIX))
            elif (record := await self.tools.get_model(key, McpTool)) is not None:
                left.add(record.server)
        for server in left - registered:
            await withdraw(self.tools, server)
            log.info("MCP server %s is no longer registered: its tools are withdrawn", server)

    async def tool(self, name: str) -> McpTool | None:
        if name.startswith("_"):
            return None
        return await self.tools.get_model(name, McpTool)

    async def call(
        self, tool: McpTool, args: dict[str, Any], timeout_s: float,
        on_progress: ProgressSink | None = None, on_stderr: StderrSink | None = None,
    ) -> RunResult:  # fmt: skip
        runner = self.runners.get(tool.server)
        if runner is None:
            await self.sync()
            runner = self.runners.get(tool.server)
        if runner is None:
            error = f"MCP server {tool.server} is not registered (any more) on this host"
            return RunResult.refused(self.sandbox.isolation, "unavailable", error)
        return await call_tool(runner, tool, args, timeout_s, runner.isolation, on_progress, on_stderr)

    def isolation(self, server: str) -> Isolation:
        runner = self.runners.get(server)
        return runner.isolation if runner is not None else self.sandbox.isolation


def _settings(server: McpServer) -> str:
    return server.model_dump_json(include={"transport", "command", "args", "network", "paths", "url", "headers_sealed"})
