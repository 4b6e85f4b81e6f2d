"""memory.store.<session> -> memory.result.<session>: save one memory or a batch of chunks.

Idempotent: a memory's id is a hash of its namespace, KB and content, so a redelivered (or
repeated) store finds the memory already there and answers with the same id.
"""

from __future__ import annotations

from typing import Any

from bus_schemas import Envelope
from bus_schemas.memory import MemoryResult, MemoryStore
from pagi.bus import Delivery
from records.access import may_use_namespace_in_session

from .errors import InvalidRequest, StoreUnavailable, not_yours
from .memory import NewMemory
from .replies import last_attempt, log_line, reply
from .worker import MemoryWorker


def _items(body: MemoryStore) -> list[NewMemory]:
    if body.text is not None:
        return [NewMemory(body.text, body.namespace, body.kb, body.source, dict(body.metadata))]
    return [NewMemory(i.text, body.namespace, i.kb, i.source, dict(i.metadata)) for i in body.items]


async def handle_store(worker: MemoryWorker, event: Envelope[Any], delivery: Delivery) -> None:
    body: MemoryStore = event.body
    if not may_use_namespace_in_session(await worker.session_owner(delivery.bus, event.session_id), body.namespace):
        result = MemoryResult(request_id=body.request_id, error=not_yours(body.namespace), error_kind="invalid")
        await reply(delivery.bus, event, result, "warn", f"memory store refused: {not_yours(body.namespace)}")
        return
    try:
        added = await worker.run(worker.memory.add, _items(body))
    except InvalidRequest as exc:
        result = MemoryResult(request_id=body.request_id, error=str(exc), error_kind="invalid")
        await reply(delivery.bus, event, result, "warn", f"memory store refused: {exc}")
        return
    except StoreUnavailable as exc:
        if not last_attempt(delivery, worker.max_attempts):
            await log_line(delivery.bus, event, f"retry-{delivery.attempt}", "warn", f"{exc}; retrying")
            raise
        result = MemoryResult(request_id=body.request_id, error=str(exc), error_kind="unavailable")
        await reply(delivery.bus, event, result, "error", f"memory store failed: {exc}")
        return
    new = sum(a.created for a in added)
    if body.text is not None:
        result = MemoryResult(request_id=body.request_id, stored_id=added[0].id, created=[added[0].created])
        message = f"saved memory {added[0].id} to {body.kb} in {body.namespace}" + ("" if new else " (already known)")
    else:
        result = MemoryResult(
            request_id=body.request_id, stored_ids=[a.id for a in added], created=[a.created for a in added]
        )
        message = f"stored {len(added)} chunks in {body.namespace}: {new} new, {len(added) - new} already known"
    await reply(delivery.bus, event, result, "memory", message)
