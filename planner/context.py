"""What the LLM sees: the twin's prompt, the tools it may use, the session so far, the job's steps."""

from __future__ import annotations

import json
from typing import Final

from bus_schemas import ChatIn, ChatOut
from bus_schemas.jobs import JobRecord
from bus_schemas.streams import EVENTS
from bus_schemas.twin import Twin
from pagi.bus import Bus
from records.tools import ToolRegistry

from .llm import ChatMessage

HISTORY_TURNS: Final = 20


class ContextBuilder:
    def __init__(self, bus: Bus, tools: ToolRegistry) -> None:
        self.bus = bus
        self.tools = tools

    async def messages(self, job: JobRecord, twin: Twin) -> list[ChatMessage]:
        system = twin.directive_logic or f"You are {twin.codename}, {twin.designation}."
        tools = await self._tools(twin)
        if tools:
            system += "\n\nTools you may ask to run (each run needs a human's approval):\n" + "\n".join(tools)
        if not twin.code_generation:
            system += "\n\nBuilding new tools is switched off for you."
        messages = [ChatMessage("system", system), *await self._history(job)]
        messages.append(ChatMessage("user", job.message))
        for step in job.steps:
            messages.append(ChatMessage("assistant", step.raw or json.dumps(step.action)))
            if step.observation is not None:
                messages.append(ChatMessage("user", f"Result of step {step.step}:\n{step.observation}"))
        return messages

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
