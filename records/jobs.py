"""Job records in KV (`pagi_jobs`, key `<session>.<job>`), changed only by compare-and-set. The
planner is their only writer; the edge reads them.

The life of a job (each move below returns the next record, or None when it was already made, so a
redelivered message repeats nothing)::

    first_step ──> running ──await_approval──> waiting_approval ──(approved) await_worker──> running,
                     │  ^                            │                         waiting for a worker
                     │  └──── record_observation ────┴── (denied) ────────────────────┘
                     └──finish──> completed | failed | cancelled   (from any state that is not finished)

A direct answer is stored completed at once by `first_step`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal

from bus_schemas.chat import SourceMemory
from bus_schemas.jobs import JobRecord, JobState, JobStep
from bus_schemas.streams import JOBS
from bus_schemas.subjects import TOKEN_RE
from pagi.bus import Bus
from pagi.stores import KVStore

from . import kvjson

JobChange = Callable[[JobRecord], JobRecord | None]
# What `JobRecord.waiting_for` names besides "approval".
Worker = Literal["memory", "tool", "build"]


def job_key(session_id: str, job_id: str) -> str:
    """`job_key("*", id)` finds a job by id alone; `job_key("*", "*")` is every job."""
    return f"{session_id}.{job_id}"


def waiting_key(session_id: str, job_id: str) -> str:
    """An index entry beside the record: this job waits for a worker (the sweeper reads only these).
    `waiting_key("*", "*")` is the pattern of them all."""
    return f"{session_id}.{job_id}.waiting"


def waits_for_worker(job: JobRecord) -> bool:
    return job.waiting_for not in (None, "approval")


# --- the moves -----------------------------------------------------------------------------------


def first_step(job: JobRecord, step: JobStep, answered: bool) -> JobRecord:
    """A new job with its first decision: completed at once when that decision is the answer."""
    return job.model_copy(update={"steps": [step], "status": "completed" if answered else "running"})


def add_step(step: JobStep, at: datetime) -> JobChange:
    def change(current: JobRecord) -> JobRecord | None:
        if any(s.trigger_id == step.trigger_id for s in current.steps):
            return None
        return current.model_copy(update={"steps": [*current.steps, step], "status": "running", "updated_at": at})

    return change


def await_approval(approval_id: str, at: datetime) -> JobChange:
    def change(current: JobRecord) -> JobRecord | None:
        if current.waiting_id == approval_id:
            return None
        return current.model_copy(
            update={
                "status": "waiting_approval",
                "waiting_for": "approval",
                "waiting_id": approval_id,
                "waiting_since": at,
                "updated_at": at,
            }
        )

    return change


def await_worker(worker: Worker, request_id: str, at: datetime) -> JobChange:
    def change(current: JobRecord) -> JobRecord | None:
        if current.waiting_id == request_id:
            return None
        return current.model_copy(
            update={
                "status": "running",
                "waiting_for": worker,
                "waiting_id": request_id,
                "waiting_since": at,
                "warned": False,
                "updated_at": at,
            }
        )

    return change


def amend_step(step_no: int, action: dict[str, Any], at: datetime) -> JobChange:
    """Step `step_no` runs as a person changed it when approving (its plan event keeps the proposal)."""

    def change(current: JobRecord) -> JobRecord | None:
        steps = list(current.steps)
        index = step_no - 1
        if steps[index].action == action:
            return None
        steps[index] = steps[index].model_copy(update={"action": action})
        return current.model_copy(update={"steps": steps, "updated_at": at})

    return change


def record_observation(
    step_no: int, observation: str, trigger_id: str, at: datetime, sources: Sequence[SourceMemory] = ()
) -> JobChange:
    """What step `step_no` produced (and the memories it brought), brought by event `trigger_id`;
    the job no longer waits."""

    def change(current: JobRecord) -> JobRecord | None:
        steps = list(current.steps)
        index = step_no - 1
        if steps[index].observation is not None:
            return None
        update = {"observation": observation, "observed_by": trigger_id, "sources": list(sources)}
        steps[index] = steps[index].model_copy(update=update)
        return current.model_copy(
            update={
                "steps": steps,
                "waiting_for": None,
                "waiting_id": None,
                "waiting_since": None,
                "warned": False,
                "status": "running",
                "updated_at": at,
            }
        )

    return change


def warn_late(request_id: str) -> JobChange:
    """The job log said the worker is late for this request (said once per wait)."""

    def change(current: JobRecord) -> JobRecord | None:
        if current.waiting_id != request_id or current.warned:
            return None
        return current.model_copy(update={"warned": True})

    return change


def finish(status: JobState, error: str | None, at: datetime) -> JobChange:
    def change(current: JobRecord) -> JobRecord | None:
        if current.finished:
            return None
        return current.model_copy(
            update={"status": status, "waiting_for": None, "waiting_id": None, "updated_at": at, "error": error}
        )

    return change


# --- the store -----------------------------------------------------------------------------------


class JobStore:
    def __init__(self, kv: KVStore) -> None:
        self.kv = kv

    @classmethod
    async def open(cls, bus: Bus) -> JobStore:
        return cls(await bus.kv(JOBS))

    async def create(self, job: JobRecord) -> JobRecord:
        """Create the job, or return the one a previous delivery of the same message created."""
        if await self.kv.create(job_key(job.session_id, job.job_id), job.model_dump_json().encode()):
            return job
        existing = await self.get(job.session_id, job.job_id)
        assert existing is not None
        return existing

    async def get(self, session_id: str, job_id: str) -> JobRecord | None:
        return await self.kv.get_model(job_key(session_id, job_id), JobRecord)

    async def find(self, job_id: str) -> JobRecord | None:
        if not TOKEN_RE.match(job_id):  # not a key token (and not a valid subject filter): no such job
            return None
        for key in await self.kv.keys(job_key("*", job_id)):
            return await self.kv.get_model(key, JobRecord)
        return None

    async def update(self, job: JobRecord, change: JobChange) -> JobRecord:
        """Apply one of the moves above by compare-and-set. A job that stops waiting for a worker
        leaves the sweeper's index."""
        seen: list[JobRecord] = []

        def tracked(current: JobRecord) -> JobRecord | None:
            seen.append(current)
            return change(current)

        updated = await kvjson.update(self.kv, job_key(job.session_id, job.job_id), JobRecord, tracked)
        if updated is None:
            raise KeyError(f"job {job.job_id} vanished")
        if seen and waits_for_worker(seen[0]) and not waits_for_worker(updated):
            await self.kv.delete(waiting_key(job.session_id, job.job_id))
        return updated

    async def wait_for_worker(self, job: JobRecord, worker: Worker, request_id: str, at: datetime) -> JobRecord:
        # The index first: a crash in between leaves an entry the sweeper drops, never a waiting job
        # that nobody watches.
        await self.kv.put(waiting_key(job.session_id, job.job_id), b"")
        return await self.update(job, await_worker(worker, request_id, at))

    async def all(self) -> list[JobRecord]:
        jobs = []
        for key in await self.kv.keys(job_key("*", "*")):
            job = await self.kv.get_model(key, JobRecord)
            if job is not None:
                jobs.append(job)
        return jobs

    async def waiting(self) -> list[JobRecord]:
        """Jobs waiting for a worker. An index entry whose job no longer waits is removed here."""
        jobs = []
        for key in await self.kv.keys(waiting_key("*", "*")):
            session_id, job_id, _ = key.split(".")
            job = await self.get(session_id, job_id)
            if job is None or job.finished or not waits_for_worker(job):
                await self.kv.delete(key)
            else:
                jobs.append(job)
        return jobs
