"""What the LLM sees: the twin's prompt, its namespace's pinned memories, the tools it may use, the
session so far, the job's steps.

Pinned memories are asked of the memory worker (`api.memory`, op `pinned`) for every prompt, so a
memory forgotten (acknowledged once its delete is durable) is in no prompt built after that; most
recent first, whole memories within `PINNED_BUDGET_CHARS`, and the prompt says how many did not fit.
A worker that does not answer in time costs the prompt its pinned memories, not the job.

With native tool calling the tools go to the provider as tools (`tool_specs`) and a step the model
decided by a tool call goes back as that call and its result (a `tool` turn); in JSON-object mode
the tools are listed in the system prompt and a step is the reply text and a "Result of step N" turn.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Sequence
from typing import Final

from bus_schemas import ChatIn, ChatOut
from bus_schemas.jobs import JobRecord, JobStep
from bus_schemas.mcp import McpTool
from bus_schemas.memory import MEMORY_API_SUBJECT, MemoryApiReply, MemoryApiRequest, MemoryRecordOut
from bus_schemas.streams import EVENTS
from bus_schemas.tool import TOOL_NAME_RE
from bus_schemas.twin import Twin
from pagi.bus import Bus, BusUnavailable
from records.access import may_use_namespace_in_session
from records.mcp_servers import mcp_tool_allowed
from records.policy import schema_problem
from records.tools import McpToolCatalog, ToolRegistry

from .llm import ChatMessage
from .llm.messages import ToolCall
from .llm.tools import ToolSpec, own_tools, parse_raw

HISTORY_TURNS: Final = 20
NO_RESULT: Final = "(not run)"
# Steps the planner took itself, not the model: a budget's approval is no part of the conversation.
NOT_SHOWN: Final = frozenset({"ActionBudget"})
# At most this many MCP tools are offered to a model (`server/*` of a large server is bounded).
MAX_MCP_TOOLS: Final = 128
PINNED_BUDGET_CHARS: Final = 4000
PINNED_TIMEOUT_S: Final = 2.0
PINNED_ASKED: Final = 100

log = logging.getLogger("planner.context")


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

    async def messages(
        self,
        job: JobRecord,
        twin: Twin,
        *,
        native_tools: bool = False,
        history: Sequence[ChatMessage] | None = None,
    ) -> list[ChatMessage]:
        """`history`: the turns before this job as recorded elsewhere (an eval case); None reads the session."""
        system = twin.directive_logic or f"You are {twin.codename}, {twin.designation}."
        if native_tools:
            system += "\n\nEvery tool call needs a human's approval before it runs. Answer in plain text when done."
        else:
            tools = await self._tools(twin)
            if tools:
                system += "\n\nTools you may ask to run (each run needs a human's approval):\n" + "\n".join(tools)
        if not twin.code_generation:
            system += "\n\nBuilding new tools is switched off for you."
        pinned = await self.pinned_memories(job, twin)
        if pinned:
            system += "\n\n" + pinned_block(pinned)
        earlier = await self._history(job) if history is None else list(history)[-HISTORY_TURNS:]
        messages = [ChatMessage("system", system), *earlier]
        messages.append(ChatMessage("user", job.message))
        messages += steps_as_turns(job.steps)
        return messages

    async def pinned_memories(self, job: JobRecord, twin: Twin) -> list[MemoryRecordOut]:
        """The twin's namespace's pinned memories, most recent first; none when the worker is away."""
        namespace = twin.memory_namespace
        if not may_use_namespace_in_session(job.user_id, namespace):
            # A shared twin pointed at a user's namespace: not for another user's job (records.access).
            return []
        ask = MemoryApiRequest(op="pinned", namespace=namespace, limit=PINNED_ASKED)
        try:
            reply = await self.bus.request(MEMORY_API_SUBJECT, ask, MemoryApiReply, timeout_s=PINNED_TIMEOUT_S)
        except BusUnavailable as exc:
            log.warning("job %s: prompt built without pinned memories of %s: %s", job.job_id, namespace, exc)
            return []
        if not reply.ok:
            log.warning("job %s: prompt built without pinned memories of %s: %s", job.job_id, namespace, reply.error)
            return []
        return reply.memories

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


def pinned_block(memories: Sequence[MemoryRecordOut], budget: int = PINNED_BUDGET_CHARS) -> str:
    """Pinned memories for the system prompt: whole ones, most recent first, until the budget is spent
    (one longer than the whole budget is cut to it rather than dropped when it is the most recent)."""
    lines: list[str] = []
    used = 0
    for memory in memories:
        line = "- " + " ".join(memory.text.split())
        if used + len(line) > budget:
            if lines:
                break
            line = line[: budget - 1] + "…"
        lines.append(line)
        used += len(line) + 1
    left = len(memories) - len(lines)
    head = "Pinned memories (a person asked you to always keep these in mind; most recent first):"
    tail = [f"({left} more pinned memories left out: over the {budget}-character budget)"] if left else []
    return "\n".join([head, *lines, *tail])


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
        if step.action_type in NOT_SHOWN:
            continue
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
