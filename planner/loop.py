"""The agent loop: decide -> (approve) -> act -> feed the result back -> decide again.

Every transition is a compare-and-set on the job record in KV followed by events whose ids derive
from the trigger, so any planner copy can take over a job, a redelivered message repeats nothing,
and a `kill -9` at any point loses nothing.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter

from bus_schemas import (
    Action,
    ActionBuildTool,
    ActionMemory,
    ActionResponse,
    ActionSelfImprove,
    ActionTool,
    ApprovalRequest,
    BuildRequest,
    ChatOut,
    Envelope,
    MemoryQuery,
    PlanAction,
    ToolRun,
    derived_id,
)
from bus_schemas.approval import ApprovalRecord
from bus_schemas.chat import BuildToolCommand, ExecuteTool, IssuedCommand, SelfImproveCommand, ShowMemoryPage
from bus_schemas.jobs import JobRecord, JobState, JobStep
from bus_schemas.subjects import (
    APPROVE_REQUEST,
    BUILD_REQ,
    CHAT_OUT,
    MEMORY_QUERY,
    PLAN_ACTION,
    TOOL_RUN,
)
from bus_schemas.twin import Twin
from pagi.bus import Bus
from records.approvals import ApprovalStore
from records.jobs import JobStore
from records.twins import PromptStore, TwinStore

from . import emit
from .decision import Decision, ReplayGap
from .policy import judge

log = logging.getLogger("planner.loop")

ACTION = TypeAdapter(Action)

ChunkSink = Callable[[str], Awaitable[None]]
Decide = Callable[[JobRecord, Twin, ChunkSink], Awaitable[Decision]]


@dataclass
class Planner:
    bus: Bus
    jobs: JobStore
    approvals: ApprovalStore
    twins: TwinStore
    prompts: PromptStore
    decide: Decide
    _now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    # --- steps ----------------------------------------------------------------------------------

    async def start(self, job: JobRecord, twin: Twin, trigger_id: str) -> None:
        """The first step of a new job: decided before the job is stored, so that creating the
        record also records the step (one write instead of three on the hot path)."""
        try:
            decision = await self._decide(job, twin, trigger_id)
        except ReplayGap as gap:
            await self.finish(await self.jobs.create(job), trigger_id, str(gap), "failed")
            return
        # A direct answer is the whole job, so it is stored completed at once (one write). Its answer
        # is published below with ids derived from the trigger: a redelivery republishes it,
        # deduplicated, instead of losing it.
        direct = isinstance(decision.action, ActionResponse)
        step = self._step(job, decision, trigger_id)
        first = job.model_copy(update={"steps": [step], "status": "completed" if direct else "running"})
        job = await self.jobs.create(first)
        if job.finished and not _answered_at_once(job):
            return  # a redelivery of a message whose job already ended
        accepted = emit.log(job, trigger_id, "accepted", "job accepted", status="pending")
        await asyncio.gather(self.bus.publish(accepted), self.next_step(job, twin, trigger_id, None))

    async def next_step(self, job: JobRecord, twin: Twin, trigger_id: str, parent: Envelope[Any] | None) -> None:
        """Take the step `trigger_id` causes: reuse it if a previous delivery already decided it."""
        step = next((s for s in job.steps if s.trigger_id == trigger_id), None)
        if step is None:
            if len(job.steps) >= twin.step_limit:
                await self.finish(
                    job, trigger_id, f"Stopped after {twin.step_limit} steps (the twin's step limit).", "failed"
                )
                return
            try:
                new_step = self._step(job, await self._decide(job, twin, trigger_id), trigger_id)
            except ReplayGap as gap:
                await self.finish(job, trigger_id, str(gap), "failed")
                return

            def append(current: JobRecord) -> JobRecord:
                if any(s.trigger_id == trigger_id for s in current.steps):
                    return current
                return current.model_copy(
                    update={"steps": [*current.steps, new_step], "status": "running", "updated_at": self._now()}
                )

            job = await self.jobs.update(job, append)
            step = next(s for s in job.steps if s.trigger_id == trigger_id)
        await self._act(job, twin, step, trigger_id)

    async def _decide(self, job: JobRecord, twin: Twin, trigger_id: str) -> Decision:
        chunks = 0

        async def on_chunk(text: str) -> None:
            nonlocal chunks
            if chunks == 0:
                await self.twins.set_status(twin.id, "thinking")
            chunks += 1
            out = ChatOut(content=text, is_final=False)
            await self.bus.publish(emit.event(job, trigger_id, f"chunk-{chunks}", CHAT_OUT, out))

        return await self.decide(job, twin, on_chunk)

    def _step(self, job: JobRecord, decision: Decision, trigger_id: str) -> JobStep:
        return JobStep(
            step=len(job.steps) + 1,
            trigger_id=trigger_id,
            action_type=decision.action.action_type,
            action=decision.action.model_dump(),
            decided_by=decision.decided_by,
            raw=decision.raw,
            note=decision.note,
        )

    async def _act(self, job: JobRecord, twin: Twin, step: JobStep, trigger_id: str) -> None:
        action = ACTION.validate_python(step.action)
        plan = emit.event(
            job,
            trigger_id,
            "plan",
            PLAN_ACTION,
            PlanAction(action=action, raw_decision=step.raw, decided_by=step.decided_by, step=step.step),
        )
        decided = [plan, emit.log(job, trigger_id, "note", step.note, level="warn")] if step.note else [plan]
        verdict = judge(action, twin)
        if isinstance(action, ActionResponse) or verdict.outcome == "respond":
            content = action.content if isinstance(action, ActionResponse) else ""
            # Sent together: one round trip; the connection keeps them in this order in the stream.
            await self.finish(job, trigger_id, content, "completed", raw=step.raw, before=decided)
            return
        await self.bus.publish_all(*decided)
        if verdict.outcome == "deny":
            note = f"Not done: {verdict.reason} (policy: {verdict.policy})."
            await self.bus.publish(emit.log(job, trigger_id, "denied", note, level="warn"))
            await self.observe(job, twin, step.step, note, derived_id(trigger_id, "after-policy"))
        elif verdict.outcome == "run":
            await self.bus.publish(
                emit.log(job, trigger_id, "auto", f"{verdict.reason}: running without asking", level="plan")
            )
            await self.dispatch(job, twin, action, derived_id(trigger_id, "request"), None, trigger_id)
        else:
            await self.ask(job, twin, step, action, verdict.policy, verdict.reason, trigger_id)

    async def observe(self, job: JobRecord, twin: Twin, step_no: int, observation: str, trigger_id: str) -> None:
        """Record what a step produced and decide again."""

        def record(current: JobRecord) -> JobRecord | None:
            steps = list(current.steps)
            index = step_no - 1
            if steps[index].observation is not None:
                return None
            steps[index] = steps[index].model_copy(update={"observation": observation})
            return current.model_copy(
                update={
                    "steps": steps,
                    "waiting_for": None,
                    "waiting_id": None,
                    "waiting_since": None,
                    "warned": False,
                    "status": "running",
                    "updated_at": self._now(),
                }
            )

        was_waiting_for_worker = job.waiting_for not in (None, "approval")
        job = await self.jobs.update(job, record)
        if was_waiting_for_worker:
            await self.jobs.clear_waiting(job)
        await self.next_step(job, twin, trigger_id, None)

    # --- approval -------------------------------------------------------------------------------

    async def ask(
        self, job: JobRecord, twin: Twin, step: JobStep, action: Action, policy: str, reason: str, trigger_id: str
    ) -> None:
        approval_id = derived_id(trigger_id, "approval")
        now = self._now()
        kind, summary, command = await self._describe(twin, action, approval_id)
        record = ApprovalRecord(
            approval_id=approval_id,
            session_id=job.session_id,
            job_id=job.job_id,
            twin_id=twin.id,
            step=step.step,
            kind=kind,
            action=action,
            summary=summary,
            reason=reason,
            policy=policy,
            created_at=now,
            expires_at=now + timedelta(seconds=twin.approval_timeout_s),
        )
        await self.approvals.create(record)
        stored = await self.approvals.get(job.session_id, approval_id) or record
        if stored.state != "pending":
            # A redelivered trigger (its ack lost in a server restart) after the decision: the job has
            # moved on; waiting for the approval again would drop the worker's result as stale.
            return

        def wait(current: JobRecord) -> JobRecord | None:
            if current.waiting_id == approval_id:
                return None
            return current.model_copy(
                update={
                    "status": "waiting_approval",
                    "waiting_for": "approval",
                    "waiting_id": approval_id,
                    "waiting_since": now,
                    "updated_at": now,
                }
            )

        job = await self.jobs.update(job, wait)
        request = ApprovalRequest(
            approval_id=approval_id,
            kind=kind,
            action=action,
            summary=summary,
            reason=reason,
            policy=policy,
            expires_at=stored.expires_at,
        )
        question = ChatOut(
            content=f"Approval needed ({policy}): {summary}",
            status="awaiting_approval",
            actions_taken=[s.action_type for s in job.steps],
            issued_command=command,
            raw_orchestrator_decision=step.raw,
        )
        await self.bus.publish_all(
            emit.event(job, trigger_id, "approval", APPROVE_REQUEST, request),
            emit.event(job, trigger_id, "approval-question", CHAT_OUT, question),
            emit.log(
                job,
                trigger_id,
                "approval-log",
                f"waiting for approval {approval_id}: {summary}",
                status="waiting_approval",
            ),
        )
        await self.twins.set_status(twin.id, "idle")

    async def _describe(self, twin: Twin, action: Action, approval_id: str) -> tuple[Any, str, IssuedCommand]:
        if isinstance(action, ActionMemory):
            where = action.namespace or twin.memory_namespace
            return (
                "memory",
                f"search memory ({where}) for {action.query!r}",
                ShowMemoryPage(query=action.query, approval_id=approval_id),
            )
        if isinstance(action, ActionTool):
            return (
                "tool",
                f"run tool {action.tool_name} with {action.args}",
                ExecuteTool(tool_name=action.tool_name, arguments=action.args, approval_id=approval_id),
            )
        if isinstance(action, ActionBuildTool):
            summary = f"build {action.language} tool {action.tool_name}:\n{action.code}"
            return (
                "build",
                summary,
                BuildToolCommand(tool_name=action.tool_name, language=action.language, approval_id=approval_id),
            )
        assert isinstance(action, ActionSelfImprove)
        diff = prompt_diff(twin.directive_logic, action.new_prompt)
        summary = f"change the system prompt ({action.rationale}):\n{diff}"
        return "self_improve", summary, SelfImproveCommand(diff=diff, approval_id=approval_id)

    # --- acting ---------------------------------------------------------------------------------

    async def dispatch(
        self,
        job: JobRecord,
        twin: Twin,
        action: Action,
        request_id: str,
        approval_id: str | None,
        trigger_id: str,
    ) -> None:
        """Hand an approved (or always-allowed) action to its worker, or apply a prompt change."""
        if isinstance(action, ActionSelfImprove):
            version = await self.prompts.add(
                twin.id, action.new_prompt, action.rationale, "self-improve", twin.directive_logic
            )
            await self.twins.set_prompt(twin.id, action.new_prompt)
            step_no = job.steps[-1].step
            note = f"The system prompt of {twin.id} is now version {version.version}."
            await self.bus.publish(emit.log(job, trigger_id, "prompt", note, status="running"))
            await self.observe(job, twin, step_no, note, derived_id(trigger_id, "after-prompt"))
            return
        if isinstance(action, ActionMemory):
            kind = "memory"
            request: Envelope[Any] = emit.event(
                job, trigger_id, "request", MEMORY_QUERY,
                MemoryQuery(request_id=request_id, query=action.query,
                            namespace=action.namespace or twin.memory_namespace, top_k=action.top_k or 5),
            )  # fmt: skip
        elif isinstance(action, ActionTool):
            kind = "tool"
            request = emit.event(
                job, trigger_id, "request", TOOL_RUN,
                ToolRun(request_id=request_id, approval_id=approval_id, tool_name=action.tool_name, args=action.args),
            )  # fmt: skip
        else:
            assert isinstance(action, ActionBuildTool)
            kind = "build"
            request = emit.event(
                job, trigger_id, "request", BUILD_REQ,
                BuildRequest(request_id=request_id, approval_id=approval_id, tool_name=action.tool_name,
                             language=action.language, code=action.code, description=action.description,
                             args_schema=action.args_schema),
            )  # fmt: skip
        now = self._now()

        def wait(current: JobRecord) -> JobRecord | None:
            if current.waiting_id == request_id:
                return None
            return current.model_copy(
                update={"status": "running", "waiting_for": kind, "waiting_id": request_id, "waiting_since": now,
                        "warned": False, "updated_at": now}
            )  # fmt: skip

        await self.jobs.mark_waiting(job)
        job = await self.jobs.update(job, wait)
        await self.bus.publish_all(
            request,
            emit.log(job, trigger_id, "request-log", f"asked the {kind} worker (request {request_id})",
                     level="tool" if kind == "tool" else "memory" if kind == "memory" else "plan",
                     status="running"),
        )  # fmt: skip
        await self.twins.set_status(twin.id, "busy")

    # --- the end ------------------------------------------------------------------------------

    async def finish(self, job: JobRecord, trigger_id: str, content: str, status: JobState,
                     raw: str | None = None, before: Sequence[Envelope[Any]] = ()) -> None:  # fmt: skip
        chat_status = status if status in ("completed", "failed", "cancelled") else "failed"
        latency_ms = (self._now() - job.created_at).total_seconds() * 1000
        answer = ChatOut(
            content=content,
            status=chat_status,
            actions_taken=[s.action_type for s in job.steps],
            raw_orchestrator_decision=raw,
            latency_ms=round(latency_ms, 2),
        )
        now = self._now()

        def close(current: JobRecord) -> JobRecord | None:
            if current.finished:
                return None
            return current.model_copy(
                update={"status": status, "waiting_for": None, "waiting_id": None, "updated_at": now,
                        "error": None if status == "completed" else content}
            )  # fmt: skip

        await self.bus.publish_all(
            *before,
            emit.event(job, trigger_id, "answer", CHAT_OUT, answer),
            emit.log(job, trigger_id, "done", f"job {status}", level="plan" if status == "completed" else "warn",
                     status=status, progress=1.0),
        )  # fmt: skip
        if not _answered_at_once(job):
            await self.jobs.update(job, close)
        if job.waiting_for not in (None, "approval"):
            await self.jobs.clear_waiting(job)  # (a stale view leaves the entry to the sweeper)
        if len(job.steps) > 1 or (job.steps and job.steps[0].decided_by != "deterministic"):
            # Only a job that waited or asked a model changed the twin's status.
            await self.twins.set_status(job.twin_id, "idle")


def _answered_at_once(job: JobRecord) -> bool:
    """Stored completed by `Planner.start`: one step, a direct answer."""
    return job.status == "completed" and len(job.steps) == 1 and job.steps[0].action_type == "ActionResponse"


def prompt_diff(old: str, new: str) -> str:
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), "current", "proposed", lineterm="")
    return "\n".join(lines) or "(no change)"
