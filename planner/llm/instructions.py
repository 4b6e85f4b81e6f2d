"""What the model is told about the reply format: generated from the action models themselves."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from functools import cache
from typing import Any

from pydantic import TypeAdapter

from bus_schemas import Action

from .messages import ChatMessage

ACTION_ADAPTER: TypeAdapter[Action] = TypeAdapter(Action)

PURPOSE = {
    "ActionResponse": "answer the person directly; `content` is exactly what they will read",
    "ActionMemory": "search memory and knowledge bases before answering",
    "ActionTool": "run one of the available tools with JSON arguments matching its schema",
    "ActionBuildTool": "write the source of a new tool when no available tool can do the job",
    "ActionSelfImprove": "propose a better system prompt for yourself, with the reason",
    "ActionRemember": "propose a memory worth keeping, and why (a person approves it first)",
    "ActionAskTwin": "ask another twin your policy names a question; its answer is your next observation",
    "ActionHandoff": "hand the conversation to another twin your policy names (the person talks to it next)",
}


@cache
def action_schemas() -> dict[str, dict[str, Any]]:
    """Each action's JSON schema, as the models define it, with `action_type` required and titles dropped."""
    schema = ACTION_ADAPTER.json_schema()
    defs: dict[str, Any] = schema["$defs"]
    result: dict[str, dict[str, Any]] = {}
    for ref in schema["oneOf"]:
        name = ref["$ref"].rsplit("/", 1)[-1]
        definition = defs[name]
        properties = {key: _untitled(value) for key, value in definition["properties"].items()}
        properties["action_type"] = {"const": name}
        result[name] = {
            "type": "object",
            "properties": properties,
            "required": ["action_type", *definition.get("required", [])],
            "additionalProperties": False,
        }
    return result


def action_names() -> list[str]:
    return list(action_schemas())


def _untitled(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _untitled(v) for k, v in value.items() if k not in {"title", "default"} or (k == "default" and v)}
    if isinstance(value, list):
        return [_untitled(v) for v in value]
    return value


def format_instructions(allowed: Collection[str] | None = None) -> str:
    schemas = action_schemas()
    names = [name for name in schemas if allowed is None or name in allowed]
    lines = [
        "Decide the single next step and reply with exactly one JSON object and nothing else: "
        'no prose, no Markdown fences. Put "action_type" first. Choose one of these actions:',
        "",
    ]
    for name in names:
        lines.append(f"- {name}: {PURPOSE.get(name, '')}")
        lines.append(f"  JSON schema: {json.dumps(schemas[name], separators=(',', ':'))}")
    lines += [
        "",
        'Example: {"action_type":"ActionResponse","content":"Hello! How can I help?"}',
        "Fields not in the schema are rejected.",
    ]
    return "\n".join(lines)


def with_instructions(messages: Sequence[ChatMessage], allowed: Collection[str] | None = None) -> list[ChatMessage]:
    """The conversation with the format instructions after the leading system messages (the twin's
    own prompt stays first, so the persona frames the format rules, not the other way round)."""
    lead = 0
    while lead < len(messages) and messages[lead].role == "system":
        lead += 1
    return [*messages[:lead], ChatMessage("system", format_instructions(allowed)), *messages[lead:]]


def repair_request(reason: str) -> str:
    return (
        f"Your previous reply was not a valid action: {reason}. "
        "Reply again with exactly one JSON object matching one of the schemas, and nothing else."
    )
