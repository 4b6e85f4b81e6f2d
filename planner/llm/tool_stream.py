"""Tool calls assembled from a stream's pieces, bounded: each family sends a call's name and id
once and its arguments as JSON text in pieces (OpenAI by `index`, Anthropic by content block)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from .messages import ToolCall
from .tools import MAX_ARGUMENTS_BYTES

# More calls than this in one reply is refused as malformed (planner/llm/tools.py says so); one more
# is kept so that the refusal can tell.
MAX_CALLS: Final = 16


@dataclass
class _Partial:
    id: str = ""
    name: str = ""
    pieces: list[str] = field(default_factory=list)
    size: int = 0


class CallAssembler:
    def __init__(self) -> None:
        self._calls: dict[Any, _Partial] = {}

    def add(self, key: Any, *, id: str | None = None, name: str | None = None, arguments: str | None = None) -> None:
        partial = self._calls.get(key)
        if partial is None:
            if len(self._calls) > MAX_CALLS:
                return
            partial = self._calls[key] = _Partial()
        if id:
            partial.id = id
        if name and not partial.name:
            partial.name = name
        if arguments and partial.size <= MAX_ARGUMENTS_BYTES:
            # Past the bound the text is cut, so that the arguments check reports the size.
            partial.pieces.append(arguments)
            partial.size += len(arguments.encode())

    def calls(self) -> tuple[ToolCall, ...]:
        return tuple(
            ToolCall(p.id or f"call_{n}", p.name, "".join(p.pieces)) for n, p in enumerate(self._calls.values())
        )


def object_text(value: Any) -> str:
    """Arguments a family sends as an object (Anthropic `input`, Gemini `args`), as JSON text."""
    if isinstance(value, str):
        return value
    return json.dumps(value if value is not None else {}, ensure_ascii=False)


def whole_calls(
    items: Sequence[tuple[str | None, str, Any] | tuple[str | None, str, Any, str]],
) -> tuple[ToolCall, ...]:
    """Calls from a whole reply: (id, name, arguments as text or object[, signature]), at most MAX_CALLS + 1."""
    return tuple(
        ToolCall(item[0] or f"call_{n}", item[1], object_text(item[2]), str(item[3]) if len(item) > 3 else "")
        for n, item in enumerate(items[: MAX_CALLS + 1])
    )
