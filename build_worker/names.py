"""The tool name rule, checked before anything touches the disk."""

from __future__ import annotations

from bus_schemas.tool import BUILTIN_TOOL_NAMES, TOOL_NAME_RE
from records.tools import MCP_NAME_SEPARATOR


def name_problem(name: str) -> str | None:
    """Why name cannot be a built tool's name, or None when it can."""
    if not TOOL_NAME_RE.match(name):
        return (
            f"invalid tool name {name!r}: use 1-64 characters of a-z 0-9 _ -, starting with a letter "
            f"(pattern {TOOL_NAME_RE.pattern})"
        )
    if name in BUILTIN_TOOL_NAMES:
        return f"invalid tool name {name!r}: it would shadow the built-in tool of that name"
    if MCP_NAME_SEPARATOR in name:
        return (
            f"invalid tool name {name!r}: {MCP_NAME_SEPARATOR!r} is how MCP server tools are named "
            "(server__tool); a built tool may not look like one"
        )
    return None
