"""Eval sets and their results in KV `pagi_evals` (`set.<set_id>`, `run.<set_id>.<run_id>`), and the
capture of a case from a recorded job (bus_schemas/evals.py).

A case is taken from the job records alone (KV `pagi_jobs`): the job's message and steps, and the
session's earlier jobs as its history (their messages and completed answers, as the planner's context
reads them from the stream). Whether a step asked a person is read from the approvals when given (the
approval of a step has an id derived from the step's trigger).
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import TypeAdapter, ValidationError

from bus_schemas import Action, derived_id
from bus_schemas.evals import (
    MAX_HISTORY,
    MAX_RECORDED_STEPS,
    EvalCase,
    EvalCaseWrite,
    EvalResult,
    EvalSet,
    EvalSetWrite,
    EvalTurn,
    RecordedStep,
)
from bus_schemas.jobs import JobRecord
from bus_schemas.streams import EVALS
from pagi.bus import Bus
from pagi.stores import KVStore

from .approvals import ApprovalStore
from .jobs import JobStore, job_key

ACTION: TypeAdapter[Action] = TypeAdapter(Action)


class CaptureError(ValueError):
    """A case cannot be captured: no such session or job, the job not finished, ... (the message says)."""


def set_key(set_id: str) -> str:
    return f"set.{set_id}"


def result_key(set_id: str, run_id: str) -> str:
    """`result_key(set, "*")` is the pattern of a set's results."""
    return f"run.{set_id}.{run_id}"


class EvalStore:
    def __init__(self, kv: KVStore) -> None:
        self.kv = kv

    @classmethod
    async def open(cls, bus: Bus) -> EvalStore:
        return cls(await bus.kv(EVALS))

    async def get(self, set_id: str) -> EvalSet | None:
        return await self.kv.get_model(set_key(set_id), EvalSet)

    async def create(self, s: EvalSet) -> bool:
        """False when a set with that id exists."""
        return await self.kv.create(set_key(s.set_id), s.model_dump_json().encode())

    async def put(self, s: EvalSet) -> None:
        await self.kv.put(set_key(s.set_id), s.model_dump_json().encode())

    async def delete(self, set_id: str) -> bool:
        if await self.kv.get(set_key(set_id)) is None:
            return False
        await self.kv.delete(set_key(set_id))
        for key in await self.kv.keys(result_key(set_id, "*")):
            await self.kv.delete(key)
        return True

    async def sets(self, twin_id: str | None = None) -> list[EvalSet]:
        found = []
        for key in await self.kv.keys(set_key("*")):
            s = await self.kv.get_model(key, EvalSet)
            if s is not None and (twin_id is None or s.twin_id == twin_id):
                found.append(s)
        return sorted(found, key=lambda s: s.set_id)

    async def put_result(self, r: EvalResult) -> None:
        await self.kv.put(result_key(r.set_id, r.run_id), r.model_dump_json().encode())

    async def result(self, set_id: str, run_id: str) -> EvalResult | None:
        return await self.kv.get_model(result_key(set_id, run_id), EvalResult)

    async def results(self, set_id: str) -> list[EvalResult]:
        """Newest first."""
        found = []
        for key in await self.kv.keys(result_key(set_id, "*")):
            r = await self.kv.get_model(key, EvalResult)
            if r is not None:
                found.append(r)
        return sorted(found, key=lambda r: r.started_at, reverse=True)


# --- capture -------------------------------------------------------------------------------------


async def session_jobs(jobs: JobStore, session_id: str) -> list[JobRecord]:
    """The session's jobs, oldest first."""
    found = []
    for key in await jobs.kv.keys(job_key(session_id, "*")):
        job = await jobs.kv.get_model(key, JobRecord)
        if job is not None:
            found.append(job)
    return sorted(found, key=lambda j: j.created_at)


def answer_of(job: JobRecord) -> str:
    """The job's final answer: its closing ActionResponse, else the reason it ended."""
    if job.steps and job.steps[-1].action_type == "ActionResponse":
        return str(job.steps[-1].action.get("content", ""))
    return job.error or ""


def history_of(earlier: list[JobRecord]) -> list[EvalTurn]:
    """The turns before a job as the planner's context reads them: every message, and the answers of
    completed jobs; at most MAX_HISTORY turns, most recent last."""
    turns: list[EvalTurn] = []
    for job in earlier:
        turns.append(EvalTurn(role="user", content=job.message))
        if job.status == "completed":
            turns.append(EvalTurn(role="assistant", content=answer_of(job)))
    return turns[-MAX_HISTORY:]


async def _recorded_steps(job: JobRecord, approvals: ApprovalStore | None) -> list[RecordedStep]:
    if len(job.steps) > MAX_RECORDED_STEPS:
        raise CaptureError(f"job {job.job_id} has {len(job.steps)} steps; a case holds at most {MAX_RECORDED_STEPS}")
    steps = []
    for step in job.steps:
        try:
            action = ACTION.validate_python(step.action)
        except ValidationError as exc:
            raise CaptureError(
                f"job {job.job_id} step {step.step}: unreadable action ({exc.error_count()} errors)"
            ) from None
        asked = False
        if approvals is not None:
            asked = await approvals.get(job.session_id, derived_id(step.trigger_id, "approval")) is not None
        steps.append(
            RecordedStep(
                step=step.step,
                action=action,
                raw=step.raw,
                decided_by=step.decided_by,
                observation=step.observation,
                asked_approval=asked,
            )
        )
    return steps


async def capture_case(
    jobs: JobStore,
    case_id: str,
    write: EvalCaseWrite,
    approvals: ApprovalStore | None = None,
    twin_id: str | None = None,
) -> EvalCase:
    """A case from a recorded job: `write.job_id`, or the session's last finished job (of `twin_id`
    when given: a case of another twin is refused)."""
    all_jobs = await session_jobs(jobs, write.session_id)
    if not all_jobs:
        raise CaptureError(f"no recorded jobs in session {write.session_id}")
    if write.job_id is not None:
        job = next((j for j in all_jobs if j.job_id == write.job_id), None)
        if job is None:
            raise CaptureError(f"no job {write.job_id} in session {write.session_id}")
        if not job.finished:
            raise CaptureError(f"job {write.job_id} is not finished ({job.status})")
    else:
        done = [j for j in all_jobs if j.finished]
        if not done:
            raise CaptureError(f"session {write.session_id} has no finished job")
        job = done[-1]
    if twin_id is not None and job.twin_id != twin_id:
        raise CaptureError(f"session {job.session_id} job {job.job_id} is of twin {job.twin_id}, not {twin_id}")
    earlier = [j for j in all_jobs if j.created_at < job.created_at and j.job_id != job.job_id]
    return EvalCase(
        case_id=case_id,
        session_id=job.session_id,
        job_id=job.job_id,
        message=job.message,
        history=history_of(earlier),
        steps=await _recorded_steps(job, approvals),
        answer=answer_of(job),
        prompt_version=job.prompt_version,
        checks=write.checks,
    )


async def capture_set(jobs: JobStore, write: EvalSetWrite, by: str, approvals: ApprovalStore | None = None) -> EvalSet:
    """A new set (not stored: `EvalStore.create` it). Every case must be of the set's twin."""
    cases = []
    for n, case_write in enumerate(write.cases, 1):
        cases.append(await capture_case(jobs, f"case-{n}", case_write, approvals, write.twin_id))
    return EvalSet(
        set_id=write.set_id,
        twin_id=write.twin_id,
        description=write.description,
        cases=cases,
        created_by=by,
        created_at=datetime.now(UTC),
    )
