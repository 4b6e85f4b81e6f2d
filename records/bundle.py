"""The shared records, opened once: what the planner and the edge each hold (the workers open only
the stores they re-check)."""

from __future__ import annotations

from dataclasses import dataclass

from bus_schemas.streams import MCP_TOOLS, TOOLS
from pagi.bus import Bus

from .approvals import ApprovalStore
from .jobs import JobStore
from .prompts import PromptStore
from .tools import McpToolCatalog, ToolRegistry
from .twins import TwinStore


@dataclass(frozen=True)
class Records:
    twins: TwinStore
    prompts: PromptStore
    approvals: ApprovalStore
    jobs: JobStore
    tools: ToolRegistry
    mcp_tools: McpToolCatalog


async def open_records(bus: Bus) -> Records:
    """Open every store; the default twin is created if it is missing, so every reader finds it."""
    twins = await TwinStore.open(bus)
    await twins.ensure_default()
    return Records(
        twins=twins,
        prompts=await PromptStore.open(bus),
        approvals=await ApprovalStore.open(bus),
        jobs=await JobStore.open(bus),
        tools=ToolRegistry(await bus.kv(TOOLS)),
        mcp_tools=McpToolCatalog(await bus.kv(MCP_TOOLS)),
    )
