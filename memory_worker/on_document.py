"""memory.parse.<session> and memory.ingest.<session> -> memory.result.<session>: read an uploaded
document (nothing stored), then, once a person approved it, store its chunks.

The file is the object named by its digest in `pagi_documents`; its bytes must hash to that digest.
Reading (conversion and chunking) runs on the worker's reading thread with progress on `job.log`;
storing goes batch by batch through the memory thread, and between batches the job is read again so
a cancelled job stops storing. Chunk ids are content hashes, so a redelivered or repeated ingest
stores nothing twice; the consume loop keeps a long ingest's message in progress (no redelivery).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Callable
from pathlib import PurePath
from typing import Any, Final

from bus_schemas import Envelope, JobLog
from bus_schemas.actions import ActionStoreDocument
from bus_schemas.documents import DocumentIngest, DocumentParse, DocumentRef
from bus_schemas.memory import MemoryErrorKind, MemoryResult
from bus_schemas.subjects import JOB_LOG
from pagi.bus import Delivery
from records.access import may_use_namespace_in_session
from records.policy import PolicyError, check_approval

from .conversion import MAX_DOCUMENT_BYTES
from .documents import Unreadable
from .errors import InvalidRequest, StoreUnavailable, not_yours
from .ingest import batches
from .memory import check_kb, check_namespace
from .reader import ReadDocument, read_document_bytes
from .replies import SERVICE, last_attempt, log_line, reply
from .worker import MemoryWorker

# Chunks embedded and stored per step; the job is checked for cancellation between steps.
INGEST_BATCH: Final = 256
# A progress line at most this often (seconds), and always the last one.
PROGRESS_EVERY_S: Final = 0.5
MAX_BYTES_ENV: Final = "PAGI_MAX_UPLOAD_BYTES"


def max_document_bytes() -> int:
    """The same limit as the edge's upload door (PAGI_MAX_UPLOAD_BYTES, default 50 MiB)."""
    raw = os.environ.get(MAX_BYTES_ENV, "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else MAX_DOCUMENT_BYTES


class _ProgressLines:
    """Progress reported from a thread, published on the session's job log, throttled."""

    def __init__(self, delivery: Delivery, event: Envelope[Any], what: Callable[[int, int], str]) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[tuple[int, int] | None] = asyncio.Queue()
        self._delivery, self._event, self._what = delivery, event, what
        self._task = asyncio.create_task(self._publish())

    def __call__(self, done: int, total: int) -> None:
        self._loop.call_soon_threadsafe(self._queue.put_nowait, (done, total))

    async def _publish(self) -> None:
        last_at = 0.0
        pending: tuple[int, int] | None = None
        while True:
            item = await self._queue.get()
            if item is not None:
                pending = item
            done = item is None
            if pending is not None and pending[1] > 1:
                now = time.monotonic()
                if done or pending[0] >= pending[1] or now - last_at >= PROGRESS_EVERY_S:
                    await self._line(*pending)
                    last_at, pending = now, None
            if done:
                return

    async def _line(self, done: int, total: int) -> None:
        body = JobLog(level="info", message=self._what(done, total), service=SERVICE, progress=done / total)
        await self._delivery.bus.publish(self._event.caused(f"progress-{done}-{total}", JOB_LOG, body))

    async def close(self) -> None:
        self._queue.put_nowait(None)
        await self._task


async def _answer(
    delivery: Delivery, event: Envelope[Any], request_id: str, kind: MemoryErrorKind, message: str, **fields: Any
) -> None:
    result = MemoryResult(request_id=request_id, error=message, error_kind=kind, **fields)
    await reply(delivery.bus, event, result, "warn" if kind != "unavailable" else "error", message)


def _unreadable(ref: DocumentRef, exc: Unreadable) -> str:
    reason = str(exc)
    return reason if ref.filename in reason else f"cannot read {ref.filename}: {reason}"


async def _fetch(worker: MemoryWorker, delivery: Delivery, ref: DocumentRef) -> bytes:
    limit = max_document_bytes()
    if ref.size > limit:
        raise Unreadable(f"{ref.filename} is {ref.size:,} bytes; the limit is {limit:,}")
    data = await (await worker.documents(delivery.bus)).get(ref.digest)
    if data is None:
        raise Unreadable(f"{ref.filename} is not in the document store (object {ref.digest[:12]}…): upload it again")
    if len(data) > limit:
        raise Unreadable(f"{ref.filename} is {len(data):,} bytes; the limit is {limit:,}")
    if hashlib.sha256(data).hexdigest() != ref.digest:
        raise Unreadable(f"the stored bytes of {ref.filename} do not match its digest: upload it again")
    return data


async def read(worker: MemoryWorker, delivery: Delivery, event: Envelope[Any], ref: DocumentRef) -> ReadDocument:
    """The document converted and chunked: from the recent reads, or fetched and read on the reading thread."""
    key = f"{ref.digest}{PurePath(ref.filename).suffix.lower()}"
    found = worker.recent_reads.get(key)
    if found is not None:
        return found
    data = await _fetch(worker, delivery, ref)
    progress = _ProgressLines(delivery, event, lambda done, total: f"read page {done}/{total} of {ref.filename}")
    try:
        document = await worker.read(read_document_bytes, data, ref.filename, progress)
    finally:
        await progress.close()
    worker.recent_reads.put(key, document)
    return document


async def handle_parse(worker: MemoryWorker, event: Envelope[Any], delivery: Delivery) -> None:
    body: DocumentParse = event.body
    ref = body.document
    try:
        document = await read(worker, delivery, event, ref)
    except Unreadable as exc:
        await _answer(delivery, event, body.request_id, "unreadable", _unreadable(ref, exc))
        return
    parsed = document.parsed(ref)
    pages = f"{parsed.pages} pages, " if parsed.pages is not None else ""
    message = f"read {ref.filename} ({parsed.format}): {pages}{parsed.chunks} chunks, {parsed.characters:,} characters"
    for warning in parsed.warnings:
        message += f"; {warning}"
    await reply(delivery.bus, event, MemoryResult(request_id=body.request_id, document=parsed), "memory", message)


def _same_document(ref: DocumentRef) -> Callable[[Any], bool]:
    """The approval must be for this very file (its digest); the person may have changed where it goes."""

    def same(action: Any) -> bool:
        return isinstance(action, ActionStoreDocument) and action.document.digest == ref.digest

    return same


async def _cancelled(worker: MemoryWorker, delivery: Delivery, event: Envelope[Any]) -> bool:
    if event.job_id is None:
        return False
    job = await (await worker.jobs(delivery.bus)).get(event.session_id, event.job_id)
    return job is not None and job.status == "cancelled"


async def handle_ingest(worker: MemoryWorker, event: Envelope[Any], delivery: Delivery) -> None:
    body: DocumentIngest = event.body
    ref = body.document
    try:
        namespace, kb = check_namespace(body.namespace), check_kb(body.kb)
    except InvalidRequest as exc:
        await _answer(delivery, event, body.request_id, "invalid", f"document ingest refused: {exc}")
        return
    if not may_use_namespace_in_session(await worker.session_owner(delivery.bus, event.session_id), namespace):
        await _answer(delivery, event, body.request_id, "invalid", f"document ingest refused: {not_yours(namespace)}")
        return
    try:
        approvals = await worker.approvals(delivery.bus)
        approval = await check_approval(
            approvals, event.session_id, body.approval_id, body.request_id, "document", _same_document(ref)
        )
    except PolicyError as exc:
        await _answer(delivery, event, body.request_id, "invalid", f"document ingest refused: {exc}")
        return
    try:
        document = await read(worker, delivery, event, ref)
    except Unreadable as exc:
        await _answer(delivery, event, body.request_id, "unreadable", _unreadable(ref, exc))
        return
    provenance: dict[str, Any] = {
        "session_id": event.session_id,
        "approval_id": approval.approval_id,
        "approved_by": approval.decided_by,
    }
    if event.job_id:
        provenance["job_id"] = event.job_id
    if event.twin_id or approval.twin_id:
        provenance["twin_id"] = event.twin_id or approval.twin_id
    items = document.memories(ref, namespace, kb, provenance)
    await _store(worker, event, delivery, body, items, namespace, kb)


async def _store(
    worker: MemoryWorker,
    event: Envelope[Any],
    delivery: Delivery,
    body: DocumentIngest,
    items: list[Any],
    namespace: str,
    kb: str,
) -> None:
    """Batch by batch on the memory thread; the job is read and progress published while the next batch
    embeds, so the thread never waits on the bus. A job cancelled during a batch stops after it."""
    ref, total = body.document, len(items)
    todo = list(batches(items, INGEST_BATCH))
    stored = new = 0
    if await _cancelled(worker, delivery, event):
        message = f"did not store {ref.filename}: the job was cancelled before its first chunk"
        await _answer(delivery, event, body.request_id, "cancelled", message, stored_count=0, new_count=0)
        return
    adding = asyncio.ensure_future(worker.run(worker.memory.add, todo[0])) if todo else None
    for number in range(len(todo)):
        assert adding is not None
        try:
            cancelled = await _cancelled(worker, delivery, event)
        finally:
            added_or_error = await asyncio.gather(adding, return_exceptions=True)
        [outcome] = added_or_error
        if isinstance(outcome, StoreUnavailable):
            if not last_attempt(delivery, worker.max_attempts):
                await log_line(delivery.bus, event, f"retry-{delivery.attempt}", "warn", f"{outcome}; retrying")
                raise outcome
            await _answer(delivery, event, body.request_id, "unavailable", f"storing {ref.filename} failed: {outcome}")
            return
        if isinstance(outcome, BaseException):
            raise outcome
        stored += len(todo[number])
        new += sum(a.created for a in outcome)
        last = number + 1 == len(todo)
        adding = None if last or cancelled else asyncio.ensure_future(worker.run(worker.memory.add, todo[number + 1]))
        await _progress(delivery, event, f"embedded {stored}/{total} chunks of {ref.filename}", stored, total)
        if cancelled and not last:
            message = f"stopped storing {ref.filename}: the job was cancelled after {stored}/{total} chunks"
            await _answer(delivery, event, body.request_id, "cancelled", message, stored_count=stored, new_count=new)
            return
    message = f"stored {ref.filename} in {namespace}/{kb}: {total} chunks, {new} new, {total - new} already known"
    result = MemoryResult(request_id=body.request_id, stored_count=total, new_count=new)
    await reply(delivery.bus, event, result, "memory", message)


async def _progress(delivery: Delivery, event: Envelope[Any], message: str, done: int, total: int) -> None:
    body = JobLog(level="info", message=message, service=SERVICE, progress=done / max(total, 1))
    await delivery.bus.publish(event.caused(f"embedded-{done}-{total}", JOB_LOG, body))
