"""Job records in KV (`pagi_jobs`, key `<session>.<job>`), changed only by compare-and-set."""

from __future__ import annotations

from collections.abc import Callable

from bus_schemas.jobs import JobRecord
from bus_schemas.streams import JOBS
from bus_schemas.subjects import TOKEN_RE
from pagi.bus import Bus
from pagi.stores import KVStore

from . import kvjson


def job_key(session_id: str, job_id: str) -> str:
    return f"{session_id}.{job_id}"


def waiting_key(session_id: str, job_id: str) -> str:
    """An index entry beside the record: this job waits for a worker (the sweeper reads only these)."""
    return f"{session_id}.{job_id}.waiting"


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
        for key in await self.kv.keys(f"*.{job_id}"):
            return await self.kv.get_model(key, JobRecord)
        return None

    async def update(self, job: JobRecord, change: Callable[[JobRecord], JobRecord | None]) -> JobRecord:
        updated = await kvjson.update(self.kv, job_key(job.session_id, job.job_id), JobRecord, change)
        if updated is None:
            raise KeyError(f"job {job.job_id} vanished")
        return updated

    async def all(self) -> list[JobRecord]:
        jobs = []
        for key in await self.kv.keys("*.*"):
            job = await self.kv.get_model(key, JobRecord)
            if job is not None:
                jobs.append(job)
        return jobs

    async def mark_waiting(self, job: JobRecord) -> None:
        await self.kv.put(waiting_key(job.session_id, job.job_id), b"")

    async def clear_waiting(self, job: JobRecord) -> None:
        await self.kv.delete(waiting_key(job.session_id, job.job_id))

    async def waiting(self) -> list[JobRecord]:
        """Jobs waiting for a worker. An index entry whose job no longer waits is removed here."""
        jobs = []
        for key in await self.kv.keys("*.*.waiting"):
            session_id, job_id, _ = key.split(".")
            job = await self.get(session_id, job_id)
            if job is None or job.finished or job.waiting_for in (None, "approval"):
                await self.kv.delete(key)
            else:
                jobs.append(job)
        return jobs
