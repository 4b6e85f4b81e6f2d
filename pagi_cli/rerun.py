"""`pagi replay SESSION --rerun`: run a recorded session's user messages again and say where it diverges.

Only the bus contract is used: each recorded `chat.in` is published again to a new session (with
the recorded decisions in `ChatIn.replay`, see `bus_schemas.replay`); every `approve.request` of the
rerun is answered with the decision a person recorded for the matching request (the k-th approval
of the same job: same verdict, same `decided_by` and reason), never with "always"; the rerun's
`plan.action`s and final `chat.out` are compared with the recorded ones, step by step.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from bus_schemas import (
    ApprovalDecision,
    ApprovalRequest,
    ChatIn,
    ChatOut,
    Envelope,
    PlanAction,
    new_id,
)
from bus_schemas.replay import RecordedDecision, ReplayOf
from bus_schemas.subjects import APPROVE_DECISION, APPROVE_REQUEST, CHAT_IN, CHAT_OUT, PLAN_ACTION, one_session
from pagi import tracing
from pagi.bus import Bus

from .session_events import timeline

FINAL_STATUSES: Final = frozenset({"completed", "failed", "cancelled"})
RECORDED_TYPES: Final = [CHAT_IN, PLAN_ACTION, APPROVE_REQUEST, APPROVE_DECISION, CHAT_OUT]
REPLAY_DECIDER: Final = "pagi-replay"


@dataclass
class Job:
    """One chat message's run: what was asked, decided, approved and answered."""

    job_id: str
    chat_in: Envelope[Any] | None = None
    steps: dict[int, PlanAction] = field(default_factory=dict)
    approval_requests: list[ApprovalRequest] = field(default_factory=list)
    answer: ChatOut | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def ordered_steps(self) -> list[PlanAction]:
        return [self.steps[n] for n in sorted(self.steps)]


@dataclass
class Recording:
    jobs: list[Job]
    decisions: dict[str, ApprovalDecision]


async def load_recording(bus: Bus, session_id: str) -> Recording:
    jobs: dict[str, Job] = {}
    decisions: dict[str, ApprovalDecision] = {}
    async for entry in timeline(bus, session_id, RECORDED_TYPES):
        event = entry.event
        if event is None:
            continue
        if event.type == APPROVE_DECISION:
            decisions.setdefault(event.body.approval_id, event.body)
            continue
        job_id = event.job_id or (event.id if event.type == CHAT_IN else None)
        if job_id is None:
            continue
        _record(jobs.setdefault(job_id, Job(job_id)), event)
    return Recording([job for job in jobs.values() if job.chat_in is not None], decisions)


def _record(job: Job, event: Envelope[Any]) -> None:
    body = event.body
    if event.type == CHAT_IN:
        job.chat_in = event
    elif event.type == PLAN_ACTION:
        job.steps.setdefault(body.step, body)
    elif event.type == APPROVE_REQUEST:
        if all(r.approval_id != body.approval_id for r in job.approval_requests):
            job.approval_requests.append(body)
    elif event.type == CHAT_OUT and body.is_final and body.status in FINAL_STATUSES and job.answer is None:
        job.answer = body
        job.done.set()


@dataclass
class Comparison:
    index: int
    message: str
    recorded: Job
    rerun: Job
    divergence: str | None
    timed_out: bool = False


@dataclass
class RerunReport:
    session_id: str
    new_session_id: str
    decisions_reused: bool
    jobs: list[Comparison]
    notes: list[str] = field(default_factory=list)

    @property
    def diverged(self) -> list[Comparison]:
        return [c for c in self.jobs if c.divergence is not None]


def new_session_for(session_id: str) -> str:
    return f"{session_id[:44]}-rerun-{uuid.uuid4().hex[:8]}"


class _Rerun:
    def __init__(self, bus: Bus, recording: Recording, session_id: str, new_session: str) -> None:
        self.bus = bus
        self.session_id = session_id
        self.recording = recording
        self.new_session = new_session
        self.jobs: dict[str, Job] = {}
        self.recorded_for: dict[str, Job] = {}
        self.notes: list[str] = []

    async def on_event(self, event: Envelope[Any]) -> None:
        job = self.jobs.get(event.job_id or "")
        if job is None:
            return
        before = len(job.approval_requests)
        _record(job, event)
        if event.type == APPROVE_REQUEST and len(job.approval_requests) > before:
            await self._answer(job, event)

    async def _answer(self, job: Job, event: Envelope[Any]) -> None:
        """Answer the k-th approval of the rerun job as a person answered the k-th of the recorded one."""
        recorded = self.recorded_for[job.job_id]
        k = len(job.approval_requests) - 1
        decision = None
        if k < len(recorded.approval_requests):
            decision = self.recording.decisions.get(recorded.approval_requests[k].approval_id)
        # Who decided and why are replayed as recorded, so the planner's reaction can match the
        # recording; the session's name (`…-rerun-…`) says it is a rerun.
        if decision is None:
            self.notes.append(f"job {job.job_id}: approval {k + 1} has no recorded decision; denied")
            decision = ApprovalDecision(
                approval_id="-", approved=False, decided_by=REPLAY_DECIDER, reason="no recorded decision to replay"
            )
        answer = Envelope[Any](
            type=APPROVE_DECISION,
            session_id=self.new_session,
            job_id=job.job_id,
            causation_id=event.id,
            body=ApprovalDecision(
                approval_id=event.body.approval_id,
                approved=decision.approved,
                decided_by=decision.decided_by,
                reason=decision.reason,
            ),
        )
        await self.bus.publish(answer)

    async def run_job(self, recorded: Job, live: bool, timeout_s: float) -> Job:
        assert recorded.chat_in is not None
        original: ChatIn = recorded.chat_in.body
        job_id = new_id()
        job = Job(job_id)
        self.jobs[job_id] = job
        self.recorded_for[job_id] = recorded
        fields: dict[str, Any] = original.model_dump(exclude={"session_id", "replay"}, exclude_none=True)
        fields["replay"] = ReplayOf(
            session_id=recorded.chat_in.session_id,
            job_id=recorded.job_id,
            live=live,
            decisions=[
                RecordedDecision(step=n, action=s.action, raw_decision=s.raw_decision, decided_by=s.decided_by)
                for n, s in sorted(recorded.steps.items())
            ],
        )
        event = Envelope[Any](
            id=job_id,
            type=CHAT_IN,
            session_id=self.new_session,
            job_id=job_id,
            twin_id=recorded.chat_in.twin_id,
            body=ChatIn.model_validate(fields),
        )
        with tracing.job_span(self.new_session, job_id, event.twin_id):
            await self.bus.publish(event)
        try:
            await asyncio.wait_for(job.done.wait(), timeout_s)
        except TimeoutError:
            pass
        return job


def _describe(step: PlanAction | None) -> str:
    if step is None:
        return "nothing"
    action = step.action.model_dump(mode="json")
    kind = action.pop("action_type", "?")
    text = json.dumps(action, sort_keys=True)
    return f"{kind} {text if len(text) <= 100 else text[:99] + '…'}"


def _same(a: PlanAction, b: PlanAction) -> bool:
    return a.action.model_dump(mode="json") == b.action.model_dump(mode="json")


def compare(recorded: Job, rerun: Job) -> str | None:
    """Where the rerun first differs from the recording, in words; None when it does not."""
    old, new = recorded.ordered_steps(), rerun.ordered_steps()
    for n in range(max(len(old), len(new))):
        a = old[n] if n < len(old) else None
        b = new[n] if n < len(new) else None
        if a is None or b is None or not _same(a, b):
            return f"step {n + 1}: recorded {_describe(a)}; rerun {_describe(b)}"
    if recorded.answer is None or rerun.answer is None:
        if recorded.answer is rerun.answer:
            return None
        return "answer: " + ("the recording has no final answer" if recorded.answer is None else "no answer in time")
    if (recorded.answer.status, recorded.answer.content) != (rerun.answer.status, rerun.answer.content):
        return (
            f"answer: recorded [{recorded.answer.status}] {recorded.answer.content[:80]!r}; "
            f"rerun [{rerun.answer.status}] {rerun.answer.content[:80]!r}"
        )
    return None


async def rerun_session(
    bus: Bus, session_id: str, live: bool = False, timeout_s: float = 60.0, new_session: str | None = None
) -> RerunReport:
    recording = await load_recording(bus, session_id)
    new_session = new_session or new_session_for(session_id)
    runner = _Rerun(bus, recording, session_id, new_session)
    observer = await bus.observe(one_session(new_session), runner.on_event)
    await bus.nc.flush()
    comparisons = []
    try:
        for index, recorded in enumerate(recording.jobs, 1):
            assert recorded.chat_in is not None
            rerun = await runner.run_job(recorded, live, timeout_s)
            timed_out = rerun.answer is None
            divergence = compare(recorded, rerun)
            message = recorded.chat_in.body.message
            comparisons.append(Comparison(index, message, recorded, rerun, divergence, timed_out))
    finally:
        await observer.stop()
    return RerunReport(session_id, new_session, not live, comparisons, list(runner.notes))


def format_report(report: RerunReport) -> list[str]:
    mode = "recorded decisions" if report.decisions_reused else "fresh decisions"
    lines = [f"rerun of {report.session_id} as {report.new_session_id} ({mode}), {len(report.jobs)} message(s)"]
    for c in report.jobs:
        head = f"  {c.index}. {c.message[:60]!r}"
        steps = f"{len(c.recorded.steps)} -> {len(c.rerun.steps)} step(s)"
        if c.divergence is None:
            lines.append(f"{head}: same ({steps})")
        else:
            late = " [timed out]" if c.timed_out else ""
            lines.append(f"{head}: DIVERGES{late} ({steps}) at {c.divergence}")
    lines.extend(f"  note: {n}" for n in report.notes)
    verdict = f"{len(report.diverged)} of {len(report.jobs)} diverged" if report.diverged else "no divergence"
    lines.append(f"{verdict}; the rerun's timeline: pagi replay {report.new_session_id}")
    return lines


async def print_rerun(
    bus: Bus, session_id: str, live: bool, timeout_s: float, write: Callable[[str], object] = sys.stdout.write
) -> int:
    report = await rerun_session(bus, session_id, live, timeout_s)
    if not report.jobs:
        print(f"pagi replay: session {session_id!r} has no recorded chat.in to rerun", file=sys.stderr)
        return 2
    for text in format_report(report):
        write(text + "\n")
    return 1 if report.diverged else 0
