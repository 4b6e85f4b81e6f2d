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


def from_remembered(result: MemoryResult, namespace: str, kb: str) -> str:
    if result.error:
        return f"The memory was not saved: {result.error}"
    known = "" if all(result.created) else " (it was already known)"
    return f"Remembered in {namespace}/{kb} as {result.stored_id}{known}."


def from_document(result: MemoryResult, filename: str, *, offered: bool) -> str:
    if result.error or result.document is None:
        return f"Could not read {filename}: {result.error or 'the memory worker said nothing about it'}"
    parsed = result.document
    pages = f", {parsed.pages} pages" if parsed.pages is not None else ""
    head = f"Read {filename} ({parsed.format}{pages}, {parsed.chunks} chunks, {parsed.characters} characters)."
    notes = "".join(f"\nNote: {w}" for w in parsed.warnings)
    if not offered:
        return head + notes
    text = parsed.excerpt or "\n\n".join(parsed.preview)
    cut = "\n…(the rest is not shown)" if len(text) < parsed.characters else ""
    return f"{head}{notes}\nIts text:\n{text}{cut}"


def from_stored_document(result: MemoryResult, filename: str, namespace: str, kb: str) -> str:
    if result.error:
        return f"{filename} was not stored: {result.error}"
    stored, new = result.stored_count or 0, result.new_count or 0
    chunks = "1 chunk" if stored == 1 else f"{stored} chunks"
    return f"Stored {chunks} of {filename} in {namespace}/{kb} ({new} new, {stored - new} already known)."
