"""`pagi kb ingest` over the bus: read and chunk locally, store through the running memory worker.

The running worker owns the store (the embedded one admits one process), so the command sends
batches of chunks as memory.store events on a session of its own and counts the answers.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

from bus_schemas import Envelope
from bus_schemas.memory import MAX_ITEMS_CHARS, MemoryItem, MemoryResult, MemoryStore
from bus_schemas.subjects import MEMORY_RESULT, MEMORY_STORE
from memory_worker.ingest import IngestPlan, IngestSummary, Progress, plan_ingest
from memory_worker.memory import NewMemory
from pagi.bus import Bus

BATCH_ITEMS: Final = 128
# Batches in flight at once: enough to keep the worker busy, few enough to bound what waits.
WINDOW: Final = 4


class IngestFailed(Exception):
    pass


def _batches(items: Sequence[NewMemory]) -> Iterator[list[NewMemory]]:
    batch: list[NewMemory] = []
    chars = 0
    for item in items:
        if batch and (len(batch) >= BATCH_ITEMS or chars + len(item.text) > MAX_ITEMS_CHARS // 2):
            yield batch
            batch, chars = [], 0
        batch.append(item)
        chars += len(item.text)
    if batch:
        yield batch


def _store_event(session_id: str, job_id: str, namespace: str, batch: list[NewMemory]) -> Envelope[MemoryStore]:
    body = MemoryStore(
        request_id=uuid.uuid4().hex,
        namespace=namespace,
        items=[MemoryItem(text=i.text, kb=i.kb, source=i.source, metadata=i.metadata) for i in batch],
    )
    return Envelope[MemoryStore](type=MEMORY_STORE, session_id=session_id, job_id=job_id, body=body)


async def store_plan(
    bus: Bus,
    plan: IngestPlan,
    *,
    session_id: str | None = None,
    progress: Progress | None = None,
    timeout_s: float = 60.0,
) -> IngestSummary:
    session = session_id or f"kb-ingest-{uuid.uuid4().hex[:12]}"
    job_id = uuid.uuid4().hex
    pending: dict[str, asyncio.Future[MemoryResult]] = {}

    async def on_result(event: Envelope[Any]) -> None:
        body = event.body
        if isinstance(body, MemoryResult) and body.request_id in pending and not pending[body.request_id].done():
            pending[body.request_id].set_result(body)

    observer = await bus.observe(f"{MEMORY_RESULT}.{session}", on_result)
    await bus.nc.flush()
    created = done = 0
    window: list[tuple[int, asyncio.Future[MemoryResult]]] = []
    loop = asyncio.get_running_loop()

    async def settle(size: int, future: asyncio.Future[MemoryResult]) -> None:
        nonlocal created, done
        try:
            result = await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            raise IngestFailed(
                f"no answer from the memory worker within {timeout_s:.0f}s: is the stack running "
                f"(NATS_URL) and is memory_worker up?"
            ) from None
        if result.error:
            raise IngestFailed(f"the memory worker refused a batch: {result.error}")
        created += sum(result.created)
        done += size
        if progress:
            progress(done, len(plan.items))

    try:
        for batch in _batches(plan.items):
            event = _store_event(session, job_id, plan.namespace, batch)
            future: asyncio.Future[MemoryResult] = loop.create_future()
            pending[event.body.request_id] = future
            await bus.publish(event)
            window.append((len(batch), future))
            if len(window) >= WINDOW:
                await settle(*window.pop(0))
        while window:
            await settle(*window.pop(0))
    finally:
        await observer.stop()
    return IngestSummary(
        files=plan.files,
        chunks=len(plan.items),
        created=created,
        duplicates=len(plan.items) - created,
        skipped=tuple(plan.skipped),
    )


async def ingest_over_bus(
    bus: Bus,
    root: Path,
    namespace: str = "default",
    kb: str | None = None,
    *,
    progress: Progress | None = None,
    timeout_s: float = 60.0,
) -> IngestSummary:
    """What `pagi kb ingest DIR [--namespace NS] [--kb KB]` runs. Raises IngestFailed, FileNotFoundError
    or memory_worker.errors.InvalidRequest (bad namespace or KB) with a message for the user."""
    plan = await asyncio.to_thread(plan_ingest, root, namespace, kb)
    return await store_plan(bus, plan, progress=progress, timeout_s=timeout_s)
