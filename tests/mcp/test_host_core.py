"""The tool worker's MCP host against a real nats-server and real bubblewrap: registered stdio
servers (`mcp-server-time`, server-everything, and the tests' own hostile server) start in the
sandbox, their tools are listed into KV `pagi_mcp_tools`, calls come back with isolation, and a
bad server gets a clear failed result while the others keep working. One host per module."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio

from bus_schemas.mcp import McpServer, McpServerStatus, McpTool, pagi_tool_name, status_key
from bus_schemas.streams import MCP_SERVERS, MCP_TOOLS
from pagi.bus import Bus
from pagi.stores import KVStore
from pagi_cli.init import bootstrap_url
from pagi_cli.nats_server import NatsServer
from records.mcp_servers import McpServerStore
from sandbox import Sandbox, SandboxConfig
from tool_worker.mcp_host import HostLimits, McpHost

from ..support import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

HERE = Path(__file__).resolve().parent
HOSTILE = HERE / "hostile_server.py"
NODE_BIN = HERE.parent / "clients" / "node_modules" / ".bin"
START_S = 30.0


@dataclass
class Host:
    host: McpHost
    store: McpServerStore
    tools: KVStore
    sandbox: Sandbox

    async def register(self, name: str, command: str, *args: str, network: bool = False) -> None:
        server = McpServer(
            name=name, transport="stdio", command=command, args=list(args), network=network,
            created_by="test", created_at=datetime.now(UTC),
        )  # fmt: skip
        await self.store.kv.put(name, server.model_dump_json().encode())
        await self.host.sync()

    async def tool(self, server: str, tool: str) -> McpTool:
        name = pagi_tool_name(server, tool)
        found = await eventually(lambda: self.tools.get_model(name, McpTool), timeout=START_S, what=f"{name} in KV")
        assert isinstance(found, McpTool)
        return found

    async def status(self, server: str) -> McpServerStatus | None:
        return await self.tools.get_model(status_key(server), McpServerStatus)

    def calls(self, server: str) -> list[dict[str, object]]:
        log = self.host.state_dir(server) / "calls.log"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.fixture(scope="module")
def nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    where = tmp_path_factory.mktemp("nats")
    server = NatsServer(store_dir=where / "store", log_file=where / "nats.log")
    server.start()
    asyncio.run(bootstrap_url(server.url))
    yield server
    server.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def host(nats: NatsServer, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Host]:
    bus = await Bus.connect(nats.url, "test-mcp-host", connect_timeout_s=10)
    sandbox = Sandbox(SandboxConfig(state_dir=tmp_path_factory.mktemp("tools") / "state"))
    assert sandbox.start() == "bwrap", f"bubblewrap must work on the test machine: {sandbox.warning}"
    store = McpServerStore(await bus.kv(MCP_SERVERS))
    tools = await bus.kv(MCP_TOOLS)
    limits = HostLimits(init_timeout_s=5.0, ready_wait_s=10.0)
    mcp_host = McpHost(store, tools, sandbox, limits=limits, poll_s=0.5)
    await mcp_host.start()
    yield Host(mcp_host, store, tools, sandbox)
    await mcp_host.close()
    await sandbox.close()
    await bus.close()


async def test_time_server_tools_listed_and_called(host: Host) -> None:
    await host.register("time", sys.executable, "-m", "mcp_server_time", "--local-timezone", "UTC")
    tool = await host.tool("time", "get_current_time")
    assert tool.server == "time" and tool.tool == "get_current_time"
    assert "timezone" in json.dumps(tool.input_schema)
    assert len(tool.digest) == 64
    result = await host.host.call(tool, {"timezone": "Asia/Tokyo"}, timeout_s=20)
    assert result.ok, result
    assert result.isolation == "bwrap"
    assert "Asia/Tokyo" in result.stdout
    status = await eventually(lambda: host.status("time"), what="status")
    assert status.running and status.isolation == "bwrap" and status.tools >= 2 and not status.network
