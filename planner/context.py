"""What the LLM sees: the twin's prompt, the tools it may use, the session so far, the job's steps.

With native tool calling the tools go to the provider as tools (`tool_specs`) and a step the model
decided by a tool call goes back as that call and its result (a `tool` turn); in JSON-object mode
the tools are listed in the system prompt and a step is the reply text and a "Result of step N" turn.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Final

from bus_schemas import ChatIn, ChatOut
from bus_schemas.jobs import JobRecord, JobStep
from bus_schemas.mcp import McpTool
from bus_schemas.streams import EVENTS
from bus_schemas.tool import TOOL_NAME_RE
from bus_schemas.twin import Twin
from pagi.bus import Bus
from records.mcp_servers import mcp_tool_allowed
from records.policy import schema_problem
from records.tools import McpToolCatalog, ToolRegistry

from .llm import ChatMessage
from .llm.messages import ToolCall
from .llm.tools import ToolSpec, own_tools, parse_raw

HISTORY_TURNS: Final = 20
NO_RESULT: Final = "(not run)"
# At most this many MCP tools are offered to a model (`server/*` of a large server is bounded).
MAX_MCP_TOOLS: Final = 128


class ContextBuilder:
    def __init__(self, bus: Bus, tools: ToolRegistry, mcp_tools: McpToolCatalog | None = None) -> None:
        self.bus = bus
        self.tools = tools
        self.mcp_tools = mcp_tools

    async def usable_mcp_tools(self, twin: Twin) -> list[McpTool]:
        """The MCP tools `twin.mcp_tools` lets it ask for, with a schema arguments can be checked by."""
        if self.mcp_tools is None or not twin.mcp_tools:
            return []
        usable = [
            t
            for t in await self.mcp_tools.list()
            if mcp_tool_allowed(twin.mcp_tools, t.server, t.tool) and schema_problem(t.input_schema) is None
        ]
        return usable[:MAX_MCP_TOOLS]

    async def messages(self, job: JobRecord, twin: Twin, *, native_tools: bool = False) -> list[ChatMessage]:
        system = twin.directive_logic or f"You are {twin.codename}, {twin.designation}."
        if native_tools:
            system += "\n\nEvery tool call needs a human's approval before it runs. Answer in plain text when done."
        else:
            tools = await self._tools(twin)
            if tools:
                system += "\n\nTools you may ask to run (each run needs a human's approval):\n" + "\n".join(tools)
        if not twin.code_generation:
            system += "\n\nBuilding new tools is switched off for you."
        messages = [ChatMessage("system", system), *await self._history(job)]
        messages.append(ChatMessage("user", job.message))
        messages += steps_as_turns(job.steps)
        return messages

    async def tool_specs(self, twin: Twin, allowed_actions: Collection[str] | None) -> list[ToolSpec]:
        """Every tool the twin may use, with its own JSON schema, then the planner's own actions."""
        specs = []
        for name in twin.allowed_tools:
            if not TOOL_NAME_RE.match(name):
                continue  # not a name any provider accepts (nor a registry tool)
            record = await self.tools.get(name)
            if record is None:
                # Not registered yet (no tool worker has started): the name alone still helps.
                specs.append(ToolSpec(name, f"The {name} tool.", {"type": "object"}))
            else:
                specs.append(ToolSpec(name, record.description or f"The {name} tool.", record.args_schema))
        for tool in await self.usable_mcp_tools(twin):
            specs.append(ToolSpec(tool.name, mcp_description(tool), tool.input_schema))
        return [*specs, *own_tools(allowed_actions)]

    async def _tools(self, twin: Twin) -> list[str]:
        lines = []
        for name in twin.allowed_tools:
            record = await self.tools.get(name)
            if record is None:
                # Not registered yet (no tool worker has started): the name alone still helps.
                lines.append(f"- {name}")
            else:
                schema = json.dumps(record.args_schema)
                lines.append(f"- {name}: {record.description} Arguments (JSON schema): {schema}")
        for tool in await self.usable_mcp_tools(twin):
            lines.append(
                f"- {tool.name}: {mcp_description(tool)} Arguments (JSON schema): {json.dumps(tool.input_schema)}"
            )
        return lines

    async def _history(self, job: JobRecord) -> list[ChatMessage]:
        """The session's earlier messages and answers (not this job's), most recent last."""
        stored = await self.bus.read_stream(EVENTS.name, f"chat.*.{job.session_id}")
        turns: list[ChatMessage] = []
        for _, event in stored:
            if event.job_id == job.job_id:
                continue
            if isinstance(event.body, ChatIn):
                turns.append(ChatMessage("user", event.body.message))
            elif isinstance(event.body, ChatOut) and event.body.is_final and event.body.status == "completed":
                turns.append(ChatMessage("assistant", event.body.content))
        return turns[-HISTORY_TURNS:]


def mcp_description(tool: McpTool) -> str:
    """What a model reads about an MCP tool: whose it is, then the server's own description."""
    own = tool.description or tool.title or tool.tool
    return f"[MCP server {tool.server}, tool {tool.tool}] {own}"


def steps_as_turns(steps: list[JobStep]) -> list[ChatMessage]:
    """The job's steps as the conversation goes on: a reply with tool calls once, then each call's
    result (a call no step carried yet, e.g. the job stopped at its step limit: "(not run)")."""
    turns: list[ChatMessage] = []
    pending: list[ToolCall] = []

    def close_reply() -> None:
        turns.extend(ChatMessage("tool", NO_RESULT, tool_call_id=c.id, name=c.name) for c in pending)
        pending.clear()

    for step in steps:
        recorded = parse_raw(step.raw)
        if recorded is None or not recorded.calls:
            close_reply()
            text = recorded.text if recorded is not None else step.raw or json.dumps(step.action)
            turns.append(ChatMessage("assistant", text))
            if step.observation is not None:
                turns.append(ChatMessage("user", f"Result of step {step.step}:\n{step.observation}"))
            continue
        call = recorded.call
        if recorded.index == 0 or call not in pending:
            close_reply()
            turns.append(ChatMessage("assistant", recorded.text, tool_calls=recorded.calls))
            pending.extend(recorded.calls)
        pending.remove(call)
        turns.append(ChatMessage("tool", step.observation or NO_RESULT, tool_call_id=call.id, name=call.name))
    close_reply()
    return turns
