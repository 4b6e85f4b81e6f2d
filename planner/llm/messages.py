"""The conversation handed to a provider: the planner builds it, each adapter maps it to its protocol."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True)
class ToolCall:
    """One native tool call as the model made it: `arguments` is JSON text (OpenAI sends text,
    Anthropic and Gemini objects, which the adapters serialise), checked only by `planner.llm.tools`."""

    id: str
    name: str
    arguments: str
    # Gemini's `thoughtSignature` on a call part: thinking models want it back with the call.
    signature: str = ""


@dataclass(frozen=True)
class ChatMessage:
    """A turn. An assistant turn may carry `tool_calls`; a `tool` turn is one call's result
    (`tool_call_id` and `name` say which call; `is_error` marks a refusal of a malformed call)."""

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None
    is_error: bool = False


def as_text(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    """The conversation without native tool turns (JSON-object mode, or a family's text fallback):
    a call becomes the assistant's words about it, a result a user turn."""
    result: list[ChatMessage] = []
    for message in messages:
        if message.role == "tool":
            result.append(ChatMessage("user", f"Result of {message.name or 'the tool call'}:\n{message.content}"))
        elif message.tool_calls:
            calls = "\n".join(f"(called {call.name} with {call.arguments})" for call in message.tool_calls)
            result.append(ChatMessage("assistant", f"{message.content}\n{calls}".strip()))
        else:
            result.append(message)
    return result


def split_system(messages: Sequence[ChatMessage]) -> tuple[str, list[ChatMessage]]:
    """For protocols with one top-level system prompt (Anthropic, Gemini): all system text joined, and
    the rest with consecutive same-role text turns merged (both protocols want alternating turns) and
    starting with a user turn. Tool turns are kept as they are: the adapters group them."""
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    turns: list[ChatMessage] = []
    for message in messages:
        if message.role == "system":
            continue
        last = turns[-1] if turns else None
        plain = message.role in ("user", "assistant") and not message.tool_calls
        if last is not None and plain and last.role == message.role and not last.tool_calls:
            turns[-1] = ChatMessage(message.role, f"{last.content}\n\n{message.content}")
        else:
            turns.append(message)
    if not turns or turns[0].role != "user":
        turns.insert(0, ChatMessage("user", "(conversation start)"))
    return system, turns
