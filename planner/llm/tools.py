"""Native tool calling: what the model is offered as tools, and its calls → validated actions.

The planner's own actions are offered as tools of the same kind as the registry's (`MemorySearch`,
`BuildTool`, `SelfImprove`: CamelCase, so they can never clash with a registry tool, whose names are
lowercase), so the action types on the bus stay exactly as they are. A call naming any other tool is
an `ActionTool` for that name: the twin's policy decides about it as it does in JSON mode (a tool the
twin may not use is refused there, never run). A plain text answer is an `ActionResponse`.

A decision's `raw` is the model's reply in one provider-neutral JSON shape (`reply_raw`), with the
index of the call that step carries: a reply with several calls becomes one step per call, each
approved and run on its own, and replay reads every step's action back from it without a model.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import jsonschema
from pydantic import ValidationError

from bus_schemas import Action, ActionResponse
from bus_schemas.limits import MAX_TEXT_CHARS
from bus_schemas.safe_json import PayloadError, loads_json

from .instructions import ACTION_ADAPTER, action_schemas
from .messages import ToolCall
from .reply import InvalidReply, parse_action

# The arguments of one call, as JSON text: as large as the largest action field (a tool's source).
MAX_ARGUMENTS_BYTES: Final = MAX_TEXT_CHARS
MAX_REASON_ERRORS: Final = 5


@dataclass(frozen=True)
class ToolSpec:
    """One tool offered to the model: its name, what it does, its arguments' JSON schema."""

    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    # The action it becomes: None for a registry tool (ActionTool), else the action type.
    action_type: str | None = None


_OWN: Final = {
    "MemorySearch": ("ActionMemory", "Search memory and the knowledge bases before answering."),
    "BuildTool": ("ActionBuildTool", "Write the source of a new tool when no available tool can do the job."),
    "SelfImprove": ("ActionSelfImprove", "Propose a better system prompt for yourself, with the reason."),
    "Remember": ("ActionRemember", "Propose a memory worth keeping, and why; a person approves (and may edit) it."),
    "AskTwin": ("ActionAskTwin", "Ask another twin (one your policy names) a question; its answer comes back to you."),
    "Handoff": ("ActionHandoff", "Hand this conversation to another twin your policy names, and why."),
}
OWN_TOOL_OF: Final = {action: name for name, (action, _) in _OWN.items()}


def own_tools(allowed_actions: Collection[str] | None) -> list[ToolSpec]:
    """The planner's own actions as tools (those `allowed_actions` allows; None: all)."""
    specs = []
    for name, (action_type, description) in _OWN.items():
        if allowed_actions is not None and action_type not in allowed_actions:
            continue
        schema = dict(action_schemas()[action_type])
        properties = {k: v for k, v in schema["properties"].items() if k != "action_type"}
        required = [r for r in schema["required"] if r != "action_type"]
        parameters = {"type": "object", "properties": properties, "required": required, "additionalProperties": False}
        specs.append(ToolSpec(name, description, parameters, action_type))
    return specs


@dataclass(frozen=True)
class CallVerdict:
    """One call of a reply: its action, or why it is malformed (sent back to the model to repair)."""

    call: ToolCall
    action: Action | None = None
    error: str | None = None


def decode_calls(
    calls: Sequence[ToolCall], offered: Mapping[str, ToolSpec] | None, allowed_actions: Collection[str] | None = None
) -> list[CallVerdict]:
    """Each call checked: `offered` (by name) gives the schemas to check against; None (a replay)
    checks only what the action models check."""
    return [_decode(call, offered, allowed_actions) for call in calls]


def _decode(call: ToolCall, offered: Mapping[str, ToolSpec] | None, allowed: Collection[str] | None) -> CallVerdict:
    try:
        return CallVerdict(call, action=call_action(call, offered, allowed))
    except InvalidReply as invalid:
        return CallVerdict(call, error=invalid.reason)


def call_action(call: ToolCall, offered: Mapping[str, ToolSpec] | None, allowed: Collection[str] | None) -> Action:
    args = arguments(call)
    spec = offered.get(call.name) if offered is not None else None
    if call.name in _OWN:
        action_type = _OWN[call.name][0]
        if allowed is not None and action_type not in allowed:
            raise InvalidReply(f"{call.name} is not available here")
        return _validated({**args, "action_type": action_type}, call.name)
    if spec is not None and spec.parameters:
        _check_schema(args, spec)
    return _validated({"action_type": "ActionTool", "tool_name": call.name, "args": args}, call.name)


def arguments(call: ToolCall) -> dict[str, Any]:
    text = call.arguments.strip() or "{}"  # some servers send "" for a call without arguments
    what = f"the arguments of {call.name[:64]!r}"
    try:
        value = loads_json(text, what=what, max_bytes=MAX_ARGUMENTS_BYTES)
    except PayloadError as error:
        raise InvalidReply(error.reason) from None
    if not isinstance(value, dict):
        raise InvalidReply(f"{what} must be a JSON object, got a JSON {type(value).__name__}")
    return value


def _check_schema(args: dict[str, Any], spec: ToolSpec) -> None:
    try:
        validator = jsonschema.validators.validator_for(spec.parameters)(spec.parameters)
        problems = [f"{'.'.join(str(p) for p in e.absolute_path) or 'arguments'}: {e.message[:200]}"
                    for e in validator.iter_errors(args)]  # fmt: skip
    except jsonschema.SchemaError:
        return  # the tool's own schema is broken: the tool worker reports that when it runs
    if problems:
        more = f" (and {len(problems) - MAX_REASON_ERRORS} more)" if len(problems) > MAX_REASON_ERRORS else ""
        raise InvalidReply(f"the arguments of {spec.name} do not match its schema: " + "; ".join(problems[:5]) + more)


def _validated(data: dict[str, Any], name: str) -> Action:
    try:
        return ACTION_ADAPTER.validate_python(data)
    except ValidationError as error:
        problems = [
            f"{'.'.join(str(part) for part in e['loc'][1:]) or 'arguments'}: {e['msg']}"
            for e in error.errors(include_url=False, include_input=False)
        ]
        raise InvalidReply(
            f"the call of {name[:64]!r} is invalid: " + "; ".join(problems[:MAX_REASON_ERRORS])
        ) from None


def text_action(text: str, allowed: Collection[str] | None = None) -> Action:
    """A reply without tool calls. Text that opens a JSON object is taken as the JSON-object format
    (a model that answers in it, or a server without tool support); any other text is the answer."""
    stripped = text.strip()
    if not stripped:
        raise InvalidReply("the reply was empty (no text and no tool call)")
    if stripped.startswith("{") or stripped.startswith("```json"):
        return parse_action(stripped, allowed)
    try:
        return ActionResponse(content=stripped)
    except ValidationError:
        raise InvalidReply(f"the answer is longer than {MAX_TEXT_CHARS} characters") from None


# ---- the recorded reply -------------------------------------------------------------------------


def reply_raw(text: str, calls: Sequence[ToolCall], index: int) -> str:
    """The reply as recorded on the step that carries call `index`."""
    reply = {"text": text, "calls": [_call_record(c) for c in calls]}
    return json.dumps({"tool_reply": reply, "call": index}, ensure_ascii=False, separators=(",", ":"))


def _call_record(call: ToolCall) -> dict[str, str]:
    record = {"id": call.id, "name": call.name, "arguments": call.arguments}
    if call.signature:
        record["signature"] = call.signature
    return record


@dataclass(frozen=True)
class RecordedReply:
    text: str
    calls: tuple[ToolCall, ...]
    index: int

    @property
    def call(self) -> ToolCall:
        return self.calls[self.index]

    def at(self, index: int) -> str:
        return reply_raw(self.text, self.calls, index)


def parse_raw(raw: str) -> RecordedReply | None:
    """A step's raw reply in the tool-calling shape, or None (JSON-object mode, or a rule's text)."""
    if not raw.startswith('{"tool_reply":'):
        return None
    try:
        data = loads_json(raw, what="the recorded reply", max_bytes=4 * MAX_TEXT_CHARS)
        reply = data["tool_reply"]
        calls = tuple(
            ToolCall(str(c["id"]), str(c["name"]), str(c["arguments"]), str(c.get("signature", "")))
            for c in reply["calls"]
        )
        index = int(data["call"])
        text = str(reply["text"])
    except (PayloadError, KeyError, TypeError, ValueError):
        return None
    if calls and not 0 <= index < len(calls):
        return None
    return RecordedReply(text, calls, index)


def action_from_raw(raw: str) -> Action:
    """A recorded LLM step's action, decided again from its raw reply (a replay, or the next call of a
    reply with several): the tool-calling shape, else the JSON-object format. Raises InvalidReply."""
    recorded = parse_raw(raw)
    if recorded is None:
        return parse_action(raw)
    if not recorded.calls:
        return text_action(recorded.text)
    return call_action(recorded.call, None, None)


def names(specs: Iterable[ToolSpec]) -> dict[str, ToolSpec]:
    return {spec.name: spec for spec in specs}
