"""The deterministic planner: decides without an LLM (no provider configured, or the LLM failed)."""

from __future__ import annotations

import json

from bus_schemas import ActionResponse

from .decision import Decision


def decide(message: str, twin_id: str) -> Decision:
    text = message.strip()
    content = (
        f"Hello, this is {twin_id}. No language model is configured, so the deterministic planner "
        f"is answering. You said: {text}"
    )
    action = ActionResponse(content=content)
    raw = json.dumps({"rule": "direct_answer", "action": action.model_dump()})
    return Decision(action=action, raw=raw)
