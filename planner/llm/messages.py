"""The conversation handed to a provider: the planner builds it, each adapter maps it to its protocol."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


def split_system(messages: Sequence[ChatMessage]) -> tuple[str, list[ChatMessage]]:
    """For protocols with one top-level system prompt (Anthropic, Gemini): all system text joined, and
    the rest with consecutive same-role turns merged (both protocols want alternating turns) and
    starting with a user turn."""
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    turns: list[ChatMessage] = []
    for message in messages:
        if message.role == "system":
            continue
        if turns and turns[-1].role == message.role:
            turns[-1] = ChatMessage(message.role, f"{turns[-1].content}\n\n{message.content}")
        else:
            turns.append(message)
    if not turns or turns[0].role != "user":
        turns.insert(0, ChatMessage("user", "(conversation start)"))
    return system, turns
