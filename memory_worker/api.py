"""Request/reply on `api.memory` for the edge's HTTP API: search, get, delete, namespace stats,
global search over messages and logs, and governance (browse, update, pin, forget, pinned: each
change also published as `memory.changed.<MEMORY_AUDIT_SESSION>`, the record of who did it); and
on `api.memory.session` for the tool worker's `vector_query`: one search on behalf of a session, its
namespace checked against the session's owner (records.access), answered with a `MemoryResult` on
the tool worker's own inbox.

It is the `memory` endpoint of the worker's NATS micro service (`nats micro info memory_worker`
lists it, `nats micro stats` counts its requests). Every copy of the worker joins one queue group,
so each request is answered once. A refusal is a `MemoryApiReply` with `ok: false` and its
`error_kind` (what the edge maps to 400/404/503), and also a micro error: `Nats-Service-Error` (the
reason) and `Nats-Service-Error-Code` (the same status), so any micro client sees it as one."""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from pydantic import ValidationError

from bus_schemas import Envelope
from bus_schemas.memory import (
    MEMORY_API_SUBJECT,
    MEMORY_AUDIT_SESSION,
    MEMORY_SESSION_API_SUBJECT,
    EventHitOut,
    MemoryApiReply,
    MemoryApiRequest,
    MemoryChanged,
    MemoryRecordOut,
    MemoryResult,
    SessionMemoryQuery,
)
from bus_schemas.subjects import MEMORY_CHANGED
from pagi import micro
from pagi.bus import Bus
from records.access import namespace_owner

from .errors import InvalidRequest, StoreUnavailable, UnknownNamespace
from .on_query import search_in_session
from .records import BrowseFilter, MemoryRecord, as_memory_hit
from .worker import MemoryWorker

log = logging.getLogger("memory_worker.api")
QUEUE_GROUP = "memory_worker"
ENDPOINT = "memory"
SESSION_ENDPOINT = "session_search"
# Each refusal's micro error code: the HTTP status the edge answers with for it.
ERROR_CODES: Final = {"invalid": "400", "unknown_namespace": "404", "not_found": "404", "unavailable": "503"}
GOVERNANCE_OPS: Final = ("browse", "update", "pin", "forget", "pinned")
# The change event is published within the edge's wait for the reply (5 s).
CHANGE_PUBLISH_S: Final = 3.0


def _record(record: MemoryRecord) -> MemoryRecordOut:
    return MemoryRecordOut(
        id=record.id,
        text=record.text,
        kb=record.kb,
        namespace=record.namespace,
        source=record.source,
        created_at=record.created_at,
        metadata=record.metadata,
    )


def _not_found(memory_id: str) -> MemoryApiReply:
    return MemoryApiReply(ok=False, error=f"no memory with id {memory_id!r}", error_kind="not_found")


async def _record_change(bus: Bus | None, change: MemoryChanged) -> None:
    """Publish the change event. The change itself already stands (the person was told it is done),
    so a failed publish is logged loudly rather than undoing it."""
    if bus is None:
        log.error("memory %s %s by %s: no bus to record it on", change.memory_id, change.op, change.by)
        return
    event = Envelope[MemoryChanged](type=MEMORY_CHANGED, session_id=MEMORY_AUDIT_SESSION, body=change)
    try:
        await bus.publish(event, retry_for_s=CHANGE_PUBLISH_S)
    except Exception:
        log.exception("memory %s %s by %s: the change event could not be published", change.memory_id, change.op,
                      change.by)  # fmt: skip


def _change(op: str, record: MemoryRecord, by: str, new_id: str | None = None) -> MemoryChanged:
    return MemoryChanged.model_validate(
        {"op": op, "memory_id": record.id, "namespace": record.namespace, "kb": record.kb, "by": by, "new_id": new_id}
    )


async def govern(worker: MemoryWorker, request: MemoryApiRequest, bus: Bus | None) -> MemoryApiReply:
    """The Mind view's operations: browse and pinned read; update, pin and forget change, and say so."""
    memory = worker.memory
    if request.op == "browse":
        flt = BrowseFilter(
            namespace=request.namespace,
            kb=request.kb,
            source_contains=request.source or None,
            since=request.since,
            until=request.until,
            approved_by=request.approved_by or None,
            pinned_only=request.pinned_only,
        )
        page = await worker.run(memory.browse, flt, request.offset, request.limit)
        return MemoryApiReply(ok=True, memories=[_record(r) for r in page.memories], next_offset=page.next_offset)
    if request.op == "pinned":
        records = await worker.run(memory.pinned, request.namespace, request.limit)
        return MemoryApiReply(ok=True, memories=[_record(r) for r in records])
    if not request.id:
        raise InvalidRequest(f"{request.op} needs a memory id")
    by = request.actor or "unknown"
    if request.op == "forget":
        forgotten = await worker.run(memory.forget, request.id)
        if forgotten is None:
            return _not_found(request.id)
        await _record_change(bus, _change("forgotten", forgotten, by))
        return MemoryApiReply(ok=True, deleted=True)
    if request.op == "pin":
        if request.pinned is None:
            raise InvalidRequest("pin needs pinned: true or false")
        return await _pin(worker, bus, request.id, request.pinned, by)
    if request.text is None and request.pinned is None:
        raise InvalidRequest("update needs text, pinned, or both")
    current_id = request.id
    edited = None
    if request.text is not None:
        edited = await worker.run(memory.update, request.id, request.text, by)
        if edited is None:
            return _not_found(request.id)
        current_id = edited.new.id
        if edited.new is not edited.old:
            await _record_change(bus, _change("edited", edited.old, by, edited.new.id))
    if request.pinned is not None:
        return await _pin(worker, bus, current_id, request.pinned, by)
    assert edited is not None
    return MemoryApiReply(ok=True, memory=_record(edited.new))


async def _pin(worker: MemoryWorker, bus: Bus | None, memory_id: str, pinned: bool, by: str) -> MemoryApiReply:
    record = await worker.run(worker.memory.pin, memory_id, pinned)
    if record is None:
        return _not_found(memory_id)
    await _record_change(bus, _change("pinned" if pinned else "unpinned", record, by))
    return MemoryApiReply(ok=True, memory=_record(record))


async def answer(worker: MemoryWorker, request: MemoryApiRequest, bus: Bus | None = None) -> MemoryApiReply:
    memory = worker.memory
    if request.op in GOVERNANCE_OPS:
        return await govern(worker, request, bus)
    if request.op == "search":
        kbs = request.kbs or ([request.kb] if request.kb else None)
        hits = await worker.run(memory.search, request.query or "", request.namespace, kbs, request.k)
        return MemoryApiReply(
            ok=True,
            results=[as_memory_hit(h) for h in hits],
        )
    if request.op in ("get", "delete"):
        if not request.id:
            raise InvalidRequest(f"{request.op} needs a memory id")
        if request.op == "delete":
            return MemoryApiReply(ok=True, deleted=await worker.run(memory.delete, request.id))
        found = await worker.run(memory.get, request.id)
        if found is None:
            return MemoryApiReply(ok=False, error=f"no memory with id {request.id!r}", error_kind="not_found")
        return MemoryApiReply(ok=True, memory=_record(found))
    if request.op == "list":
        records = await worker.run(memory.list, request.namespace, request.kb, request.limit)
        return MemoryApiReply(ok=True, memories=[_record(r) for r in records])
    if request.op == "namespaces":
        return MemoryApiReply(ok=True, namespaces=await worker.run(memory.namespaces))
    if worker.events is None:
        raise InvalidRequest("global search is not enabled on this worker")
    found_events = await worker.run(
        worker.events.search,
        request.query or "",
        kind=request.kind,
        session_id=request.session_id,
        sessions=request.session_ids,
        limit=request.k,
    )
    return MemoryApiReply(
        ok=True,
        events=[
            EventHitOut(
                kind=h.event.kind,
                text=h.event.text,
                score=h.score,
                session_id=h.event.session_id,
                ts=h.event.ts.isoformat(),
                job_id=h.event.job_id,
                twin_id=h.event.twin_id,
                sender=h.event.sender,
                level=h.event.level,
                event_id=h.event.event_id,
            )
            for h in found_events
        ],
    )


async def reply_to(worker: MemoryWorker, data: bytes, bus: Bus | None = None) -> MemoryApiReply:
    try:
        request = MemoryApiRequest.model_validate_json(data)
        return await answer(worker, request, bus)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "request"
        return MemoryApiReply(ok=False, error=f"invalid request: {where}: {first['msg']}", error_kind="invalid")
    except UnknownNamespace as exc:
        # The edge asks for every caller: only shared namespaces are named to all (records.access).
        told = exc.told_to(lambda namespace: namespace_owner(namespace) is None)
        return MemoryApiReply(ok=False, error=told, error_kind="unknown_namespace")
    except InvalidRequest as exc:
        return MemoryApiReply(ok=False, error=str(exc), error_kind="invalid")
    except StoreUnavailable as exc:
        return MemoryApiReply(ok=False, error=str(exc), error_kind="unavailable")


async def answer_request(worker: MemoryWorker, data: bytes, bus: Bus | None = None) -> micro.Answer:
    try:
        reply = await reply_to(worker, data, bus)
    except Exception as exc:  # a bug must not leave the caller waiting for its timeout
        log.exception("api.memory request failed")
        # One line (it goes into a header), bounded.
        failed = " ".join(f"memory worker failed: {type(exc).__name__}: {exc}".split())[:300]
        return micro.Answer(MemoryApiReply(ok=False, error=failed, error_kind="unavailable"), "500", failed)
    if reply.ok:
        return micro.Answer(reply)
    kind = reply.error_kind or "invalid"
    return micro.Answer(reply, ERROR_CODES[kind], reply.error or kind)


def _refused(result: MemoryResult) -> micro.Answer:
    kind = result.error_kind or "invalid"
    return micro.Answer(result, ERROR_CODES[kind], result.error or kind)


async def answer_session_query(worker: MemoryWorker, bus: Bus, data: bytes) -> micro.Answer:
    try:
        query = SessionMemoryQuery.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "request"
        # No request id to echo when the request could not be read.
        error = f"invalid request: {where}: {first['msg']}"
        return _refused(MemoryResult(request_id="invalid", error=error, error_kind="invalid"))
    try:
        result = await search_in_session(worker, bus, query.session_id, query)
    except StoreUnavailable as exc:
        result = MemoryResult(request_id=query.request_id, error=str(exc), error_kind="unavailable")
    except Exception as exc:  # a bug must not leave the tool run waiting for its timeout
        log.exception("api.memory.session request failed")
        failed = " ".join(f"memory worker failed: {type(exc).__name__}: {exc}".split())[:300]
        return micro.Answer(
            MemoryResult(request_id=query.request_id, error=failed, error_kind="unavailable"), "500", failed
        )
    return micro.Answer(result) if result.error_kind is None else _refused(result)


async def serve_api(bus: Bus, worker: MemoryWorker, stopping: asyncio.Event) -> None:
    async def on_request(data: bytes) -> micro.Answer:
        return await answer_request(worker, data, bus)

    async def on_session_query(data: bytes) -> micro.Answer:
        return await answer_session_query(worker, bus, data)

    endpoint = await micro.endpoint(bus, ENDPOINT, MEMORY_API_SUBJECT, on_request, queue_group=QUEUE_GROUP)
    session = await micro.endpoint(
        bus, SESSION_ENDPOINT, MEMORY_SESSION_API_SUBJECT, on_session_query, queue_group=QUEUE_GROUP
    )
    log.info("answering %s and %s", MEMORY_API_SUBJECT, MEMORY_SESSION_API_SUBJECT)
    await stopping.wait()
    await session.stop()
    await endpoint.stop()
