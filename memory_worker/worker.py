"""The memory as the bus handlers see it: every call runs on one dedicated thread.

One thread serialises access to the store (the embedded shard is one writer) and keeps the
event loop free while a Qdrant server answers or a batch is embedded. Converting a document (seconds
for a large PDF) runs on a thread of its own, so a memory search never waits behind it.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from bus_schemas.streams import APPROVALS, DOCUMENTS, JOBS, MEMORY_WORKER, SESSIONS
from pagi.bus import Bus
from pagi.stores import BlobStore, KVStore
from records.jobs import JobStore
from records.sessions import SessionOwners

from .config import MemorySettings
from .events_index import EventIndex, open_event_index
from .memory import Memory, open_memory
from .reader import RecentReads

P = ParamSpec("P")
T = TypeVar("T")


class MemoryWorker:
    def __init__(self, memory: Memory, executor: ThreadPoolExecutor, events: EventIndex | None = None) -> None:
        self.memory = memory
        self.events = events
        self._executor = executor
        # Attempts before a handler answers with an error instead of retrying (the consumer's limit).
        self.max_attempts = MEMORY_WORKER.max_attempts
        self._owners: SessionOwners | None = None
        self._reading = ThreadPoolExecutor(max_workers=1, thread_name_prefix="documents")
        self.recent_reads = RecentReads()
        self._approvals: KVStore | None = None
        self._jobs: JobStore | None = None
        self._documents: BlobStore | None = None

    async def session_owner(self, bus: Bus, session_id: str) -> str | None:
        """Who opened the session (None: no user did), for `records.access` on each query and store."""
        if self._owners is None:
            self._owners = SessionOwners(await bus.kv(SESSIONS))
        return await self._owners.owner(session_id)

    async def approvals(self, bus: Bus) -> KVStore:
        if self._approvals is None:
            self._approvals = await bus.kv(APPROVALS)
        return self._approvals

    async def jobs(self, bus: Bus) -> JobStore:
        if self._jobs is None:
            self._jobs = JobStore(await bus.kv(JOBS))
        return self._jobs

    async def documents(self, bus: Bus) -> BlobStore:
        if self._documents is None:
            self._documents = await bus.object_store(DOCUMENTS)
        return self._documents

    @classmethod
    async def open(cls, settings: MemorySettings | None = None) -> MemoryWorker:
        settings = settings or MemorySettings()
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="memory")
        loop = asyncio.get_running_loop()
        try:
            memory = await loop.run_in_executor(executor, open_memory, settings)
            events = await loop.run_in_executor(executor, open_event_index, settings)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(memory, executor, events)

    def close_sync(self) -> None:
        self.memory.close()
        if self.events is not None:
            self.events.close()

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    async def read(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn` on the document-reading thread (conversion and chunking, no store access)."""
        return await asyncio.get_running_loop().run_in_executor(self._reading, functools.partial(fn, *args, **kwargs))

    async def close(self) -> None:
        await self.run(self.close_sync)
        self._executor.shutdown(wait=True)
        self._reading.shutdown(wait=True)
