"""Wiring of the tool worker onto the bus: sandbox, registry, artifacts, policy stores, the route."""

from __future__ import annotations

import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from bus_schemas.streams import APPROVALS, ARTIFACTS, DONE, MCP_SERVERS, MCP_TOOLS, TOOL_WORKER, TOOLS, TWINS
from bus_schemas.tool import SANDBOX_STATUS_KEY, SandboxStatus
from pagi.bus import Bus
from pagi.service import Route
from records.mcp_servers import McpServerStore
from records.tools import ToolRegistry
from sandbox import RunResult, Sandbox
from sandbox.settings import start_sandbox

from .artifacts import ArtifactCache
from .builtins import BUILTIN_RECORDS, VectorQueryArgs
from .runner import ToolRunner
from .settings import ToolSettings
from .tool_run import ToolRunHandler
from .vector import vector_query

if TYPE_CHECKING:
    from .mcp_host import McpHost

log = logging.getLogger("pagi.tool_worker")


@dataclass
class ToolWorker:
    sandbox: Sandbox
    routes: list[Route]
    mcp: McpHost | None = None

    async def close(self) -> None:
        if self.mcp is not None:
            await self.mcp.close()
        await self.sandbox.close()


async def tool_routes(bus: Bus) -> Sequence[Route]:
    # The process ends with the service; its warm sandboxes die with it (--die-with-parent).
    return (await open_tool_worker(bus)).routes


async def open_tool_worker(bus: Bus, settings: ToolSettings | None = None) -> ToolWorker:
    settings = settings or ToolSettings()
    sandbox = start_sandbox(settings, "tool_worker")
    tools_kv = await bus.kv(TOOLS)
    status = SandboxStatus(
        isolation=sandbox.isolation,
        require_sandbox=settings.require_sandbox,
        warning=sandbox.warning or sandbox.pids_warning,
        userns_disabled=sandbox.userns_disabled,
        seccomp=sandbox.seccomp_on,
        pids_scope=sandbox.pids_scope,
        workspace_free_bytes=sandbox.free_bytes(),
        host=socket.gethostname(),
    )
    await tools_kv.put(SANDBOX_STATUS_KEY, status.model_dump_json().encode())
    log.info("sandbox isolation: %s%s", sandbox.isolation, f" ({sandbox.warning})" if sandbox.warning else "")
    registry = ToolRegistry(tools_kv, BUILTIN_RECORDS)
    await registry.publish_builtins()
    artifacts = ArtifactCache(await bus.object_store(ARTIFACTS), sandbox.root / "artifacts")

    async def ask_memory(args: VectorQueryArgs, trigger: Any) -> RunResult:
        return await vector_query(bus, trigger, args, sandbox.isolation)

    runner = ToolRunner(sandbox, registry, artifacts, vector_query=ask_memory)
    mcp = await open_mcp_host(bus, sandbox, settings) if settings.mcp_enabled else None
    handler = ToolRunHandler(
        bus,
        runner,
        done=await bus.kv(DONE),
        twins=await bus.kv(TWINS),
        approvals=await bus.kv(APPROVALS),
        check_policy=settings.check_policy,
        max_timeout_s=settings.max_timeout_s,
        mcp=mcp,
    )
    return ToolWorker(sandbox, [Route(TOOL_WORKER, handler, max_in_flight=settings.max_concurrent)], mcp)


async def open_mcp_host(bus: Bus, sandbox: Sandbox, settings: ToolSettings) -> McpHost | None:
    try:
        from .mcp_host import HostLimits, McpHost
        from .mcp_host.supervisor import SERVER_LIMITS
    except ImportError as exc:  # the `mcp` SDK is not installed: tools work, MCP servers do not run
        log.warning("MCP host off: %s (install the `mcp` package to run registered MCP servers)", exc)
        return None
    base = sandbox.config.limits
    limits = HostLimits(
        init_timeout_s=settings.mcp_init_timeout_s,
        limits=replace(SERVER_LIMITS, address_space_bytes=settings.mcp_memory_bytes, cpu_s=settings.mcp_cpu_s,
                       nproc=base.nproc, file_size_bytes=base.file_size_bytes, tmp_bytes=base.tmp_bytes),
    )  # fmt: skip
    store = McpServerStore(await bus.kv(MCP_SERVERS))
    host = McpHost(store, await bus.kv(MCP_TOOLS), sandbox, data_dir=settings.data_dir, limits=limits,
                   poll_s=settings.mcp_poll_s)  # fmt: skip
    await host.start()
    return host
