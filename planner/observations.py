"""What a worker's answer says, as text for the next decision (and for the person reading the answer)."""

from __future__ import annotations

from bus_schemas import BuildResult, MemoryResult, ToolResult

MAX_OUTPUT_CHARS = 4000


def _clip(text: str) -> str:
    return text if len(text) <= MAX_OUTPUT_CHARS else text[:MAX_OUTPUT_CHARS] + "\n…(truncated)"


def from_tool(result: ToolResult) -> str:
    head = f"Tool {result.tool_name} exited with code {result.exit_code} (isolation: {result.isolation}"
    head += f", {result.duration_ms:.0f} ms)."
    if result.error:
        head += f" Error: {result.error}"
    parts = [head]
    if result.stdout:
        parts.append("stdout:\n" + _clip(result.stdout))
    if result.stderr:
        parts.append("stderr:\n" + _clip(result.stderr))
    if result.truncated:
        parts.append("(output was truncated at the limit)")
    if result.files_changed:
        parts.append("files changed: " + ", ".join(result.files_changed[:20]))
    return "\n".join(parts)


def from_memory(result: MemoryResult, query: str) -> str:
    if result.error:
        return f"Memory search for {query!r} failed: {result.error}"
    if not result.hits:
        return f"No memories found for {query!r}."
    lines = [f"Found {len(result.hits)} memories for {query!r}:"]
    for index, hit in enumerate(result.hits, 1):
        source = f", {hit.source}" if hit.source else ""
        lines.append(f"{index}. [{hit.kb}{source}, score {hit.score:.2f}] {_clip(hit.text)[:600]}")
    return "\n".join(lines)


def from_build(result: BuildResult) -> str:
    if result.success:
        return f"Built tool {result.tool_name} version {result.version} ({result.artifact_digest})."
    detail = result.error or _clip(result.stderr) or f"exit code {result.exit_code}"
    return f"Building tool {result.tool_name} failed: {detail}"
