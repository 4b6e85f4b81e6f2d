"""The deterministic planner: decides without an LLM (no provider configured, or the LLM failed)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from bus_schemas import Action, ActionResponse


@dataclass(frozen=True)
class Decision:
    action: Action
    # What was decided, as text: the LLM's raw reply, or the deterministic rule that fired.
    raw: str


def decide(message: str, twin_id: str) -> Decision:
    text = message.strip()
    content = (
        f"Hello, this is {twin_id}. No language model is configured, so the deterministic planner "
        f"is answering. You said: {text}"
    )
    action = ActionResponse(content=content)
    raw = json.dumps({"rule": "direct_answer", "action": action.model_dump()})
    return Decision(action=action, raw=raw)
