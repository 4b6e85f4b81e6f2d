"""Job records in KV (`pagi_jobs`, key `<session>.<job>`), changed only by compare-and-set."""

from __future__ import annotations

from collections.abc import Callable

from bus_schemas.jobs import JobRecord
from bus_schemas.streams import JOBS
from pagi.bus import Bus
from pagi.stores import KVStore

from . import kvjson


def job_key(session_id: str, job_id: str) -> str:
    return f"{session_id}.{job_id}"


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
        for key in await self.kv.keys():
            if key.endswith(f".{job_id}"):
                return await self.kv.get_model(key, JobRecord)
        return None

    async def update(self, job: JobRecord, change: Callable[[JobRecord], JobRecord | None]) -> JobRecord:
        updated = await kvjson.update(self.kv, job_key(job.session_id, job.job_id), JobRecord, change)
        if updated is None:
            raise KeyError(f"job {job.job_id} vanished")
        return updated

    async def all(self) -> list[JobRecord]:
        jobs = []
        for key in await self.kv.keys():
            job = await self.kv.get_model(key, JobRecord)
            if job is not None:
                jobs.append(job)
        return jobs

    async def unfinished(self) -> list[JobRecord]:
        return [job for job in await self.all() if not job.finished]
