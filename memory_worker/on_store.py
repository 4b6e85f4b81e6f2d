"""memory.store.<session> -> memory.result.<session>: save one memory or a batch of chunks.

Idempotent: a memory's id is a hash of its namespace, KB and content, so a redelivered (or
repeated) store finds the memory already there and answers with the same id. A store that names an
approval (a twin's proposed memory, approved) is checked against it in `pagi_approvals` (approved, for a
remember, for this very request) and records who approved it in the memory's provenance.
"""

from __future__ import annotations

from typing import Any

from bus_schemas import Envelope
from bus_schemas.actions import ActionRemember
from bus_schemas.memory import MemoryResult, MemoryStore
from pagi.bus import Delivery
from records.access import may_use_namespace_in_session
from records.policy import PolicyError, check_approval

from .errors import InvalidRequest, StoreUnavailable, not_yours
from .memory import NewMemory
from .replies import last_attempt, log_line, reply
from .worker import MemoryWorker


def _items(body: MemoryStore, approved: dict[str, Any]) -> list[NewMemory]:
    if body.text is not None:
        source = body.source or (f"session {approved['session_id']}" if approved else None)
        return [NewMemory(body.text, body.namespace, body.kb, source, {**body.metadata, **approved})]
    return [NewMemory(i.text, body.namespace, i.kb, i.source, {**i.metadata, **approved}) for i in body.items]


def _is_remember(action: Any) -> bool:
    # The person may have edited the text, namespace and KB before approving: the kind is what must match.
    return isinstance(action, ActionRemember)


async def _approval(worker: MemoryWorker, delivery: Delivery, event: Envelope[Any]) -> dict[str, Any]:
    """The provenance an approved store adds; PolicyError when the approval does not allow this store."""
    body: MemoryStore = event.body
    if body.approval_id is None:
        return {}
    approvals = await worker.approvals(delivery.bus)
    record = await check_approval(
        approvals, event.session_id, body.approval_id, body.request_id, "remember", _is_remember
    )
    # Where it was said: the session and job of the approval, not what the request claims.
    return {
        "approval_id": record.approval_id,
        "approved_by": record.decided_by,
        "session_id": record.session_id,
        "job_id": record.job_id,
        "twin_id": record.twin_id,
    }


async def handle_store(worker: MemoryWorker, event: Envelope[Any], delivery: Delivery) -> None:
    body: MemoryStore = event.body
    if not may_use_namespace_in_session(await worker.session_owner(delivery.bus, event.session_id), body.namespace):
        result = MemoryResult(request_id=body.request_id, error=not_yours(body.namespace), error_kind="invalid")
        await reply(delivery.bus, event, result, "warn", f"memory store refused: {not_yours(body.namespace)}")
        return
    try:
        approved = await _approval(worker, delivery, event)
    except PolicyError as exc:
        result = MemoryResult(request_id=body.request_id, error=f"memory store refused: {exc}", error_kind="invalid")
        await reply(delivery.bus, event, result, "warn", f"memory store refused: {exc}")
        return
    try:
        added = await worker.run(worker.memory.add, _items(body, approved))
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
