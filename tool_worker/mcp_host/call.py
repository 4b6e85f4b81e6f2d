"""One `tools/call`: arguments checked against the tool's schema before anything is sent, the
answer mapped onto a tool run's result (text content and structured JSON as stdout, `isError` and
every failure as a failed result that says why)."""

from __future__ import annotations

import json
import time
from typing import Any

import jsonschema
import mcp_types as types
from mcp.shared.exceptions import MCPError

from bus_schemas.mcp import McpTool
from sandbox import Isolation, Reason, RunResult

from .supervisor import ProgressSink, ServerRunner, ServerUnavailable
from .transport import StderrSink

# stdout of a result before bus_schemas.fit cuts it to one event (a server may answer more).
MAX_STDOUT_CHARS = 4 * 1024 * 1024


def check_arguments(tool: McpTool, args: dict[str, Any]) -> str | None:
    try:
        jsonschema.validate(args, tool.input_schema)
    except jsonschema.ValidationError as exc:
        where = ".".join(str(p) for p in exc.absolute_path) or "arguments"
        return f"invalid arguments for {tool.name} ({tool.server}/{tool.tool}): {where}: {exc.message}"
    except jsonschema.SchemaError as exc:
        return f"{tool.name} has an input schema that is not valid JSON Schema: {exc.message}"
    return None


def render(result: types.CallToolResult) -> str:
    parts: list[str] = []
    for block in result.content:
        if isinstance(block, types.TextContent):
            parts.append(block.text)
        elif isinstance(block, types.ImageContent | types.AudioContent):
            parts.append(f"[{block.type}: {block.mime_type}, {len(block.data)} base64 characters]")
        elif isinstance(block, types.ResourceLink):
            parts.append(f"[resource link: {block.uri}]")
        elif isinstance(block, types.EmbeddedResource):
            res = block.resource
            parts.append(res.text if isinstance(res, types.TextResourceContents) else f"[resource: {res.uri}]")
    text = "\n".join(parts)
    if result.structured_content is not None and not text:
        text = json.dumps(result.structured_content)
    return text


async def call_tool(
    runner: ServerRunner, tool: McpTool, args: dict[str, Any], timeout_s: float, isolation: Isolation,
    on_progress: ProgressSink | None = None, on_stderr: StderrSink | None = None,
) -> RunResult:  # fmt: skip
    problem = check_arguments(tool, args)
    if problem is not None:
        return RunResult.refused(isolation, "invalid_arguments", problem)
    started = time.perf_counter()

    # A server's own error is a failed run (exit 1, its message as the error), as a tool exiting 1 is.
    def failed(reason: Reason | None, error: str, stdout: str = "") -> RunResult:
        elapsed = (time.perf_counter() - started) * 1000
        return RunResult(1, stdout, error, round(elapsed, 3), False, isolation, reason=reason, error=error)

    try:
        result = await runner.call(tool.tool, args, timeout_s, on_progress, on_stderr)
    except ServerUnavailable as exc:
        return failed("unavailable", str(exc))
    except TimeoutError:
        return failed(
            "timeout",
            f"{tool.server}/{tool.tool} did not answer within {timeout_s:g} s; the call was cancelled "
            "(notifications/cancelled sent to the server)",
        )
    except MCPError as exc:
        return failed(None, f"MCP server {tool.server} answered {tool.tool} with an error: {exc.error.message}")
    text = render(result)
    truncated = len(text) > MAX_STDOUT_CHARS
    if truncated:
        text = text[:MAX_STDOUT_CHARS] + "\n[pagi: output truncated]"
    elapsed = round((time.perf_counter() - started) * 1000, 3)
    if result.is_error:
        error = f"MCP server {tool.server}: {tool.tool} failed: {text[:2000] or 'no message'}"
        return RunResult(1, text, "", elapsed, truncated, isolation, error=error)
    return RunResult(0, text, "", elapsed, truncated, isolation)
