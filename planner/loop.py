"""The agent loop: decide -> (approve) -> act -> feed the result back -> decide again.

Every transition is one of the job's named moves (`records.jobs`), applied by compare-and-set on the
job record in KV, followed by events whose ids derive from the trigger, so any planner copy can take
over a job, a redelivered message repeats nothing, and a `kill -9` at any point loses nothing. What
each action kind means (its policy, approval, request, observation) is `planner.actions`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter

from bus_schemas import Action, ActionResponse, ApprovalRequest, ChatOut, Envelope, PlanAction, SourceMemory, derived_id
from bus_schemas.actions import ActionAskTwin
from bus_schemas.approval import ApprovalRecord
from bus_schemas.joblog import LogLevel
from bus_schemas.jobs import MAX_STEP_SOURCES, JobRecord, JobState, JobStep
from bus_schemas.subjects import APPROVE_REQUEST, CHAT_OUT, PLAN_ACTION
from bus_schemas.twin import Twin
from pagi.bus import Bus
from records import jobs as job_moves
from records.access import Caller, may_see_twin
from records.approvals import ApprovalStore
from records.budgets import BudgetError, BudgetStore
from records.jobs import JobStore
from records.policy import ToolPolicy
from records.prompts import PromptStore, change_prompt
from records.sessions import SessionTwins
from records.tools import McpToolCatalog
from records.twins import TwinError, TwinStore

from . import emit, subjobs
from .actions import BudgetRaise, Handoff, PromptChange, SubJob, Verdict, judge, kind_of
from .decision import Decision, ReplayGap

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
    # The tools registered MCP servers list (None: every MCP tool is refused).
    mcp_tools: McpToolCatalog | None = None
    # Where an approved budget's raised limit is written (None: no budgets, none raised).
    budgets: BudgetStore | None = None
    # Which twin a session talks to after a handoff (None: kept beside the jobs, in their bucket).
    session_twins: SessionTwins | None = None
    _now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        if self.session_twins is None:
            self.session_twins = SessionTwins(self.jobs.kv)

    async def twin_for(self, job: JobRecord) -> Twin:
        """The twin as the job is judged: a sub-job's under the stricter of its chain's policies (read
        through the twins' cache, as a new job's twin is: an edit is in force within its TTL)."""
        if not job.chain:
            return await self.twins.get_or_default(job.twin_id)
        twin = await self.twins.get_cached(job.twin_id)
        return subjobs.stricter(twin, [await self.twins.get_cached(t) for t in job.chain])

    # --- steps ----------------------------------------------------------------------------------

    async def start(self, job: JobRecord, twin: Twin, trigger_id: str, caused_by: str | None = None) -> None:
        """The first step of a new job: decided before the job is stored, so that creating the
        record also records the step (one write instead of three on the hot path). `caused_by`: a
        sub-job's parent step's trigger, named as the cause of the sub-job's first event."""
        try:
            decision = await self._decide(job, twin, trigger_id)
        except ReplayGap as gap:
            await self.finish(await self.jobs.create(job), trigger_id, str(gap), "failed")
            return
        # A direct answer is the whole job, so it is stored completed at once (one write). Its answer
        # is published below with ids derived from the trigger: a redelivery republishes it,
        # deduplicated, instead of losing it.
        direct = isinstance(decision.action, ActionResponse)
        job = await self.jobs.create(job_moves.first_step(job, self._step(job, decision, trigger_id), direct))
        if job.finished and not _answered_at_once(job):
            return  # a redelivery of a message whose job already ended
        accepted = emit.log(job, trigger_id, "accepted", "job accepted", status="pending")
        if caused_by is not None:
            # One replay of the session walks the tree: the sub-job's first event names the parent step.
            chain = subjobs.chain_text(job.chain, job.twin_id)
            accepted = emit.log(job, trigger_id, "accepted", f"sub-job accepted ({chain})", status="pending")
            accepted = accepted.model_copy(update={"causation_id": caused_by})
        # Published with the step's own events: one flush and one wait for the acks instead of two.
        await self.next_step(job, twin, trigger_id, None, announce=(accepted,))

    async def next_step(
        self,
        job: JobRecord,
        twin: Twin,
        trigger_id: str,
        parent: Envelope[Any] | None,
        then: Action | None = None,
        announce: Sequence[Envelope[Any]] = (),
    ) -> None:
        """Take the step `trigger_id` causes: reuse it if a previous delivery already decided it.
        `then`: the step the last result itself called for (ActionKind.follow_up), taken undecided.
        `announce`: events published first, with the step's own (a new job's "accepted" line)."""
        step = next((s for s in job.steps if s.trigger_id == trigger_id), None)
        if step is None:
            if len(job.steps) >= twin.step_limit:
                await self.finish(
                    job, trigger_id, f"Stopped after {twin.step_limit} steps (the twin's step limit).", "failed"
                )
                return
            try:
                decision = (
                    await self._decide(job, twin, trigger_id)
                    if then is None
                    else Decision(then, json.dumps({"rule": "follow_up"}), "follow-up")
                )
                new_step = self._step(job, decision, trigger_id)
            except ReplayGap as gap:
                await self.finish(job, trigger_id, str(gap), "failed")
                return
            job = await self.jobs.update(job, job_moves.add_step(new_step, self._now()))
            step = next(s for s in job.steps if s.trigger_id == trigger_id)
        await self._act(job, twin, step, trigger_id, announce)

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

    async def _act(
        self, job: JobRecord, twin: Twin, step: JobStep, trigger_id: str, announce: Sequence[Envelope[Any]] = ()
    ) -> None:
        action = ACTION.validate_python(step.action)
        plan = emit.event(
            job,
            trigger_id,
            "plan",
            PLAN_ACTION,
            PlanAction(action=action, raw_decision=step.raw, decided_by=step.decided_by, step=step.step),
        )
        decided = [*announce, plan]
        if step.note:
            decided.append(emit.log(job, trigger_id, "note", step.note, level="warn"))
        tool = (
            None
            if isinstance(action, ActionResponse)
            else await kind_of(action.action_type).tool(action, self.mcp_tools)
        )
        if job.chain and not isinstance(action, ActionResponse):
            twin = await self.twin_for(job)
        verdict = judge(action, twin, tool)
        if not isinstance(action, ActionResponse) and verdict.outcome != "deny":
            bound = kind_of(action.action_type).bounds(action, job, twin)
            if bound is not None:
                verdict = Verdict("deny", "sub-job-bounds", bound, verdict.kind)
        if isinstance(action, ActionResponse) or verdict.outcome == "respond":
            content = action.content if isinstance(action, ActionResponse) else ""
            # Sent together: one round trip; the connection keeps them in this order in the stream.
            await self.finish(job, trigger_id, content, "completed", raw=step.raw, before=decided)
            return
        await self.bus.publish_all(*decided)
        if verdict.outcome == "deny":
            note = f"Not done: {verdict.reason} (policy: {verdict.policy})."
            if job.chain:
                asked_by = subjobs.chain_text(job.chain, twin.id)
                note += f" This is a sub-job ({asked_by}): it may do only what every twin on that chain may."
            await self.bus.publish(emit.log(job, trigger_id, "denied", note, level="warn"))
            await self.observe(job, twin, step.step, note, derived_id(trigger_id, "after-policy"))
        elif verdict.outcome == "run":
            await self.bus.publish(
                emit.log(job, trigger_id, "auto", f"{verdict.reason}: running without asking", level="plan")
            )
            await self.dispatch(job, twin, action, derived_id(trigger_id, "request"), None, trigger_id)
        else:
            await self.ask(job, twin, step, action, verdict.policy, verdict.reason, trigger_id, tool)

    async def observe(
        self,
        job: JobRecord,
        twin: Twin,
        step_no: int,
        observation: str,
        trigger_id: str,
        sources: Sequence[SourceMemory] = (),
        then: Action | None = None,
    ) -> None:
        """Record what a step produced (and the memories it brought) and take the next step."""
        record = job_moves.record_observation(step_no, observation, trigger_id, self._now(), sources)
        job = await self.jobs.update(job, record)
        await self.next_step(job, twin, trigger_id, None, then)

    @staticmethod
    def took(job: JobRecord, trigger_id: str) -> bool:
        """Whether the event `trigger_id` already moved this job (a step or an observation of its own)."""
        return any(s.trigger_id == trigger_id or s.observed_by == trigger_id for s in job.steps)

    # --- approval -------------------------------------------------------------------------------

    async def ask(
        self,
        job: JobRecord,
        twin: Twin,
        step: JobStep,
        action: Action,
        policy: str,
        reason: str,
        trigger_id: str,
        tool: ToolPolicy | None = None,
    ) -> None:
        approval_id = derived_id(trigger_id, "approval")
        now = self._now()
        kind = kind_of(action.action_type)
        summary = kind.summary(action, twin)
        if job.chain:
            # The same human decides every step of a tree, and sees which twins led to it.
            asked_by = f"asked by {subjobs.chain_text(job.chain, twin.id)}"
            summary = f"[{asked_by}] {summary}"
            reason = f"{reason} ({asked_by})"
        shown = kind.shown(tool)
        record = ApprovalRecord(
            approval_id=approval_id,
            session_id=job.session_id,
            job_id=job.job_id,
            twin_id=twin.id,
            step=step.step,
            kind=kind.approval,
            action=action,
            summary=summary,
            reason=reason,
            policy=policy,
            created_at=now,
            expires_at=now + timedelta(seconds=twin.approval_timeout_s),
            mcp=shown,
        )
        await self.approvals.create(record)
        stored = await self.approvals.get(job.session_id, approval_id) or record
        if stored.state != "pending":
            # A redelivered trigger (its ack lost in a server restart) after the decision: the job has
            # moved on; waiting for the approval again would drop the worker's result as stale.
            return
        job = await self.jobs.update(job, job_moves.await_approval(approval_id, now))
        request = ApprovalRequest(
            approval_id=approval_id,
            kind=kind.approval,
            action=action,
            summary=summary,
            reason=reason,
            policy=policy,
            expires_at=stored.expires_at,
            mcp=stored.mcp,
            eval_pending=kind.eval_pending(twin),
        )
        question = ChatOut(
            content=f"Approval needed ({policy}): {summary}",
            status="awaiting_approval",
            actions_taken=[s.action_type for s in job.steps],
            issued_command=kind.command(action, twin, approval_id),
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

    # --- acting ---------------------------------------------------------------------------------

    async def dispatch(
        self,
        job: JobRecord,
        twin: Twin,
        action: Action,
        request_id: str,
        approval_id: str | None,
        trigger_id: str,
        decided_by: str | None = None,
    ) -> None:
        """Hand an approved (or always-allowed) action to its worker, or apply a prompt change or a
        budget's approval. `decided_by`: who approved it (a raised budget records them)."""
        kind = kind_of(action.action_type)
        carried = kind.request(action, twin, request_id, approval_id)
        if isinstance(carried, SubJob):
            await self._ask_twin(job, twin, carried, request_id, trigger_id)
            return
        if isinstance(carried, Handoff):
            await self._hand_off(job, twin, carried, trigger_id)
            return
        if isinstance(carried, BudgetRaise):
            await self._budget_approved(job, twin, action, carried, trigger_id, decided_by or "an approval")
            return
        if isinstance(carried, PromptChange):
            version = await change_prompt(
                self.twins, self.prompts, twin, carried.prompt, carried.rationale, "self-improve"
            )
            note = kind.observe(action, version, twin)
            await self.bus.publish(emit.log(job, trigger_id, "prompt", note, status="running"))
            await self.observe(job, twin, job.steps[-1].step, note, derived_id(trigger_id, "after-prompt"))
            return
        worker = carried.worker
        request = emit.event(job, trigger_id, "request", carried.event_type, carried.body)
        job = await self.jobs.wait_for_worker(job, worker, request_id, self._now())
        note = f"asked the {worker} worker (request {request_id})"
        await self.bus.publish_all(
            request, emit.log(job, trigger_id, "request-log", note, level=carried.log_level, status="running")
        )
        await self.twins.set_status(twin.id, "busy")

    async def _reachable(self, job: JobRecord, twin_id: str) -> str | None:
        """Why the job's person may not reach twin `twin_id` (unknown, or another user's private
        twin: said in the same words), or None."""
        try:
            target = await self.twins.get_cached(twin_id)
        except TwinError:
            target = None
        if target is None or (job.user_id is not None and not may_see_twin(Caller(job.user_id), target.owner)):
            return f"there is no twin {twin_id!r} to reach"
        return None

    async def _ask_twin(self, job: JobRecord, twin: Twin, carried: SubJob, request_id: str, trigger_id: str) -> None:
        """Start the sub-job (or find the one a previous delivery started) and wait for its answer."""
        step = job.steps[-1]
        unreachable = await self._reachable(job, carried.twin_id)
        if unreachable is not None:
            note = f"Not done: {unreachable}."
            await self.bus.publish(emit.log(job, trigger_id, "denied", note, level="warn"))
            await self.observe(job, twin, step.step, note, derived_id(trigger_id, "after-policy"))
            return
        action = ACTION.validate_python(step.action)
        assert isinstance(action, ActionAskTwin)
        # The parent waits without a record of it: the sub-job's id derives from the step
        # (subjobs.running_child), which is what the answer and a cancel look for.
        child = subjobs.child_of(job, step, action, request_id, self._now())
        chain = subjobs.chain_text(child.chain, child.twin_id)
        asked_log = emit.log(job, trigger_id, "subjob", f"asked {chain}: sub-job {child.job_id}", "plan", "running")
        await asyncio.gather(
            self.bus.publish(asked_log),
            self.start(child, await self.twin_for(child), subjobs.start_trigger(child.job_id), step.trigger_id),
        )

    async def _hand_off(self, job: JobRecord, twin: Twin, carried: Handoff, trigger_id: str) -> None:
        unreachable = await self._reachable(job, carried.twin_id)
        if unreachable is None:
            assert self.session_twins is not None
            await self.session_twins.hand_off(job.session_id, twin.id, carried.twin_id, job.job_id, self._now())
            why = f" ({carried.reason})" if carried.reason else ""
            note = f"handoff: the session now talks to {carried.twin_id}, handed over by {twin.id}{why}"
            await self.bus.publish(emit.log(job, trigger_id, "handoff", note, level="info", status="running"))
            observation = f"The conversation is now with {carried.twin_id}{why}."
        else:
            observation = f"Not done: {unreachable}."
            await self.bus.publish(emit.log(job, trigger_id, "denied", observation, level="warn"))
        await self.observe(job, twin, job.steps[-1].step, observation, derived_id(trigger_id, "after-handoff"))

    async def resume_parent(self, child: JobRecord) -> None:
        """A redelivery for a finished sub-job: its parent already observed the answer (a sub-job
        is recorded finished only after that), so take (or repeat, deduplicated) the parent's next step."""
        if child.parent_job_id is None:
            return
        parent = await self.jobs.get(child.session_id, child.parent_job_id)
        trigger_id = subjobs.answered_trigger(child.job_id)
        if parent is not None and not parent.finished and self.took(parent, trigger_id):
            await self.next_step(parent, await self.twin_for(parent), trigger_id, None)

    async def subjob_done(self, child: JobRecord, content: str, status: JobState) -> None:
        """A sub-job's answer is its parent step's observation (a redelivery repeats nothing)."""
        if child.parent_job_id is None:
            return
        parent = await self.jobs.get(child.session_id, child.parent_job_id)
        if parent is None or parent.finished:
            return
        twin = await self.twin_for(parent)
        trigger_id = subjobs.answered_trigger(child.job_id)
        if self.took(parent, trigger_id):
            await self.next_step(parent, twin, trigger_id, None)
            return
        if subjobs.running_child(parent) != child.job_id or child.parent_step is None:
            return
        if status == "completed":
            text = f"{child.twin_id} answered: {content}"
        else:
            text = f"{child.twin_id} could not answer (its sub-job {status}): {content}"
        note = f"sub-job {child.job_id} of {child.twin_id} {status}"
        await self.bus.publish(emit.log(parent, trigger_id, "subjob-done", note, status="running"))
        await self.observe(parent, twin, child.parent_step, text, trigger_id)

    async def _budget_approved(
        self, job: JobRecord, twin: Twin, action: Action, carried: BudgetRaise, trigger_id: str, by: str
    ) -> None:
        """Raise the limit if the person gave one (a limit at or above it is kept: a redelivery raises
        nothing twice), and observe the approval: the next decision's one call passes the budget."""
        kind = kind_of(action.action_type)
        raised, failed = None, ""
        if carried.to is not None:
            if self.budgets is None:
                failed = "; its limit was not raised: this planner keeps no budgets"
            else:
                try:
                    raised = await self.budgets.raise_limit(carried.scope, carried.period, carried.unit, carried.to, by)
                except BudgetError as exc:
                    failed = f"; its limit was not raised: {exc}"
        note = kind.observe(action, raised, twin) + failed
        await self.bus.publish(
            emit.log(job, trigger_id, "budget", note, level="warn" if failed else "plan", status="running")
        )
        await self.observe(job, twin, job.steps[-1].step, note, derived_id(trigger_id, "after-budget"))

    # --- the end ------------------------------------------------------------------------------

    async def finish(
        self,
        job: JobRecord,
        trigger_id: str,
        content: str,
        status: JobState,
        raw: str | None = None,
        before: Sequence[Envelope[Any]] = (),
        notify: bool = True,
    ) -> None:
        """End the job. A sub-job's parent is told first (`notify`; not when the parent is what is
        being cancelled): a crash in between repeats the telling, never loses it."""
        chat_status = status if status in ("completed", "failed", "cancelled") else "failed"
        latency_ms = (self._now() - job.created_at).total_seconds() * 1000
        answer = ChatOut(
            content=content,
            status=chat_status,
            actions_taken=[s.action_type for s in job.steps],
            raw_orchestrator_decision=raw,
            source_memories=citations(job) if status == "completed" else [],
            latency_ms=round(latency_ms, 2),
        )
        level: LogLevel = "plan" if status == "completed" else "warn"
        await self.bus.publish_all(
            *before,
            emit.event(job, trigger_id, "answer", CHAT_OUT, answer),
            emit.log(job, trigger_id, "done", f"job {status}", level=level, status=status, progress=1.0),
        )
        if notify and job.parent_job_id is not None and (not job.finished or _answered_at_once(job)):
            await self.subjob_done(job, content, status)
        if not _answered_at_once(job):
            error = None if status == "completed" else content
            await self.jobs.update(job, job_moves.finish(status, error, self._now()))
        if len(job.steps) > 1 or (job.steps and job.steps[0].decided_by != "deterministic"):
            # Only a job that waited or asked a model changed the twin's status.
            await self.twins.set_status(job.twin_id, "idle")


def citations(job: JobRecord) -> list[SourceMemory]:
    """Every memory the job's steps brought, once each, best first."""
    found: dict[str, SourceMemory] = {}
    for step in job.steps:
        for source in step.sources:
            if source.id not in found or found[source.id].score < source.score:
                found[source.id] = source
    return sorted(found.values(), key=lambda s: -s.score)[:MAX_STEP_SOURCES]


def _answered_at_once(job: JobRecord) -> bool:
    """Stored completed by `Planner.start`: one step, a direct answer."""
    return job.status == "completed" and len(job.steps) == 1 and job.steps[0].action_type == "ActionResponse"
