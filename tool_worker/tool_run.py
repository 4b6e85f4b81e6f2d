"""tool.run.<session> -> tool.result.<session>: policy re-checked, run once per request id, output streamed."""

from __future__ import annotations

import logging
import socket
from typing import TYPE_CHECKING, Any, Literal

from bus_schemas import Envelope, JobLog
from bus_schemas.fit import fit
from bus_schemas.joblog import LogLevel
from bus_schemas.mcp import McpTool
from bus_schemas.subjects import JOB_LOG, TOOL_RESULT
from bus_schemas.tool import TOOL_NAME_RE, ToolResult, ToolRun, ToolRunRecord
from pagi.bus import Bus, Delivery, Reject
from pagi.joblog import LineStreamer
from records.done import Ledger
from records.policy import PolicyError, check_tool_run, malformed_request
from records.stores import KV
from records.tools import McpToolCatalog
from records.usage import run_event
from sandbox import RunResult

from .metrics import record_run
from .runner import ToolRunner

if TYPE_CHECKING:  # the host needs the `mcp` SDK, imported only when the host is on
    from .mcp_host import McpHost

log = logging.getLogger("pagi.tool_worker")

SERVICE = "tool_worker"


def to_result(body: ToolRun, run: RunResult) -> ToolResult:
    return fit(
        ToolResult(
            request_id=body.request_id,
            tool_name=body.tool_name,
            exit_code=run.exit_code,
            stdout=run.stdout,
            stderr=run.stderr,
            duration_ms=run.duration_ms,
            truncated=run.truncated,
            isolation=run.isolation,
            files_changed=run.files_changed,
            files_removed=run.files_removed,
            error=run.error,
            reason=run.reason,
        )
    )


class ToolRunHandler:
    def __init__(
        self,
        bus: Bus,
        runner: ToolRunner,
        done: KV,
        twins: KV,
        approvals: KV,
        check_policy: bool = True,
        max_timeout_s: float = 60.0,
        mcp: McpHost | None = None,
    ) -> None:
        self.bus = bus
        self.mcp = mcp
        self.mcp_tools = McpToolCatalog(mcp.tools) if mcp is not None else None
        self.max_timeout_s = max_timeout_s
        self.runner = runner
        self.ledger: Ledger[ToolRunRecord, ToolResult] = Ledger(done, "tool", ToolRunRecord, socket.gethostname())
        self.twins = twins
        self.approvals = approvals
        self.check_policy = check_policy

    async def __call__(self, event: Envelope[Any], delivery: Delivery) -> None:
        body = event.body
        if not isinstance(body, ToolRun):
            raise Reject(f"the tool worker does not handle {event.type}")
        refusal = self._malformed(body)
        if refusal is not None:
            # Nothing to run and nothing to record in the ledger: the asker gets the reason now.
            await self._reply(event, to_result(body, refusal))
            return
        result = await self.ledger.once(body.request_id, lambda interrupted: self._result(event, body, interrupted))
        # A redelivery gets the recorded result again, same id: JetStream drops it if the first got through.
        await self._reply(event, result)

    def _malformed(self, body: ToolRun) -> RunResult | None:
        isolation = self.runner.sandbox.isolation
        problem = malformed_request(body.request_id)
        if problem is not None:
            return RunResult.refused(isolation, "invalid_arguments", problem)
        if not TOOL_NAME_RE.match(body.tool_name):
            problem = "invalid tool name: 1-64 characters of a-z 0-9 _ -, starting with a letter"
            return RunResult.refused(isolation, "unknown_tool", problem)
        return None

    async def _result(self, event: Envelope[Any], body: ToolRun, interrupted: bool) -> ToolResult:
        if interrupted:
            run = RunResult.refused(
                self.runner.sandbox.isolation,
                "interrupted",
                "the tool worker stopped while this tool was running; it was not run a second time",
            )
        else:
            run = await self._run(event, body)
            if run.duration_ms > 0:  # a refusal ran nothing
                kind: Literal["tool", "mcp"] = (
                    "mcp" if self.mcp_tools is not None and await self.mcp_tools.get(body.tool_name) else "tool"
                )
                # An MCP call runs in a long-lived server: its CPU is not one run's (None).
                await self.bus.publish(run_event(event, kind, body.tool_name, run.duration_ms, run.cpu_ms))
        record_run(run)
        return to_result(body, run)

    async def _run(self, event: Envelope[Any], body: ToolRun) -> RunResult:
        isolation = self.runner.sandbox.isolation
        mcp_tool = await self.mcp_tools.get(body.tool_name) if self.mcp_tools is not None else None
        if mcp_tool is not None:
            return await self._run_mcp(event, body, mcp_tool)
        # Read once: the digest checked against an always-allow's pin is the artifact that runs.
        record = await self.runner.registry.get(body.tool_name)
        digest = record.artifact_digest if record is not None and record.kind == "built" else None
        if self.check_policy:
            try:
                await check_tool_run(
                    self.twins, self.approvals, event.session_id, event.twin_id, body.approval_id,
                    body.request_id, body.tool_name, body.args, digest,
                )  # fmt: skip
            except PolicyError as exc:
                return RunResult.refused(isolation, exc.reason, str(exc))
        async with LineStreamer(self.bus.publish, event, SERVICE, body.tool_name) as lines:
            await self.bus.publish(
                lines.event("start", f"running {body.tool_name} (isolation: {isolation})", status="running")
            )
            run = await self.runner.run(
                event.session_id, body.tool_name, body.args, timeout_s=self._timeout(body), on_output=lines.line,
                trigger=event, record=record,
            )  # fmt: skip
        return run

    async def _run_mcp(self, event: Envelope[Any], body: ToolRun, tool: McpTool) -> RunResult:
        """A call to a registered MCP server's tool: the same policy re-check (pinned to the tool as
        listed now), progress and the server's stderr in the job log, the answer as a tool result."""
        assert self.mcp is not None
        isolation = self.mcp.isolation(tool.server)
        if self.check_policy:
            try:
                await check_tool_run(
                    self.twins, self.approvals, event.session_id, event.twin_id, body.approval_id,
                    body.request_id, body.tool_name, body.args, tool.digest, self.mcp_tools,
                )  # fmt: skip
            except PolicyError as exc:
                return RunResult.refused(isolation, exc.reason, str(exc))
        timeout_s = self._timeout(body) or self.runner.sandbox.config.limits.timeout_s
        async with LineStreamer(self.bus.publish, event, SERVICE, body.tool_name) as lines:
            where = f"MCP server {tool.server} (isolation: {isolation})"
            await self.bus.publish(lines.event("start", f"calling {tool.tool} on {where}", status="running"))

            async def progress(done: float, total: float | None, message: str | None) -> None:
                of = f"/{total:g}" if total is not None else ""
                await lines.line("stdout", f"[progress {done:g}{of}] {message or ''}".rstrip())

            async def stderr(line: str) -> None:
                await lines.line("stderr", line)

            return await self.mcp.call(tool, body.args, timeout_s, progress, stderr)

    def _timeout(self, body: ToolRun) -> float | None:
        return None if body.timeout_s is None else min(body.timeout_s, self.max_timeout_s)

    async def _reply(self, event: Envelope[Any], result: ToolResult) -> None:
        summary = f"{result.tool_name} exited {result.exit_code} in {result.duration_ms:.0f} ms"
        if result.reason:
            summary += f" ({result.reason}: {result.error})"
        await self.bus.publish(event.caused("result-log", JOB_LOG, _log_body(summary, result)))
        await self.bus.publish(event.caused("result", TOOL_RESULT, result))


def _log_body(summary: str, result: ToolResult) -> JobLog:
    level: LogLevel = "error" if result.reason in ("sandbox_required", "not_allowed", "not_approved") else "tool"
    return JobLog(level=level, service=SERVICE, message=summary)
