"""`pagi kb ingest` over the bus: read and chunk locally, store through the running memory worker.

The running worker owns the store (the embedded one admits one process), so the command sends
batches of chunks as memory.store events on a session of its own and counts the answers.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

from bus_schemas import Envelope
from bus_schemas.memory import MAX_ITEMS_CHARS, MemoryItem, MemoryResult, MemoryStore
from bus_schemas.subjects import MEMORY_RESULT, MEMORY_STORE
from memory_worker.ingest import IngestPlan, IngestSummary, Progress, plan_ingest
from memory_worker.memory import NewMemory
from pagi.bus import Bus, PendingReply, ReplyTimeout, StreamReplies, stream_replies

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
    created = done = 0

    async def settle(replies: StreamReplies[MemoryResult], size: int, pending: PendingReply[MemoryResult]) -> None:
        nonlocal created, done
        try:
            result = await replies.wait(pending, timeout_s)
        except ReplyTimeout:
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

    async with stream_replies(bus, f"{MEMORY_RESULT}.{session}", MemoryResult) as replies:
        window: list[tuple[int, PendingReply[MemoryResult]]] = []
        for batch in _batches(plan.items):
            window.append((len(batch), await replies.send(_store_event(session, job_id, plan.namespace, batch))))
            if len(window) >= WINDOW:
                await settle(replies, *window.pop(0))
        while window:
            await settle(replies, *window.pop(0))
    return plan.summary(created)


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
