"""Mapping the planner's conversation onto protocols with one system prompt and alternating turns."""

from __future__ import annotations

from planner.llm import ChatMessage
from planner.llm.messages import split_system


def test_system_text_is_joined_and_same_role_turns_merged() -> None:
    system, turns = split_system(
        [
            ChatMessage("system", "persona"),
            ChatMessage("system", "format"),
            ChatMessage("user", "a"),
            ChatMessage("user", "b"),
            ChatMessage("assistant", "c"),
            ChatMessage("system", "late note"),
            ChatMessage("assistant", "d"),
        ]
    )
    assert system == "persona\n\nformat\n\nlate note"
    assert turns == [ChatMessage("user", "a\n\nb"), ChatMessage("assistant", "c\n\nd")]


def test_turns_start_with_the_user() -> None:
    _, turns = split_system([ChatMessage("assistant", "greeting")])
    assert [t.role for t in turns] == ["user", "assistant"]
    _, none = split_system([ChatMessage("system", "only a prompt")])
    assert [t.role for t in none] == ["user"]
