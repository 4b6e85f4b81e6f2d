"""memory.query.<session> -> memory.result.<session>: hybrid search, top-k hits.

`search_in_session` is the search itself, with the session owner's namespace check: the stream
handler below and the tool worker's request/reply endpoint (`api.memory.session`, memory_worker/api.py)
both answer through it."""

from __future__ import annotations

from typing import Any

from bus_schemas import Envelope
from bus_schemas.memory import MemoryQuery, MemoryResult
from pagi.bus import Bus, Delivery
from records.access import may_use_namespace_in_session

from .errors import InvalidRequest, StoreUnavailable, UnknownNamespace, not_yours
from .records import as_memory_hit
from .replies import last_attempt, log_line, reply
from .worker import MemoryWorker


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def search_in_session(worker: MemoryWorker, bus: Bus, session_id: str, body: MemoryQuery) -> MemoryResult:
    """The hits for `body` as asked from `session_id`, or a refusal (`error_kind`) when the session's
    owner may not use the namespace or the request is invalid. Raises StoreUnavailable (retryable)."""
    kbs = body.kbs or ([body.kb] if body.kb else None)
    owner = await worker.session_owner(bus, session_id)
    if not may_use_namespace_in_session(owner, body.namespace):
        return MemoryResult(request_id=body.request_id, error=not_yours(body.namespace), error_kind="unknown_namespace")
    try:
        hits = await worker.run(worker.memory.search, body.query, body.namespace, kbs, body.top_k)
    except UnknownNamespace as exc:
        told = exc.told_to(lambda namespace: may_use_namespace_in_session(owner, namespace))
        return MemoryResult(request_id=body.request_id, error=told, error_kind="unknown_namespace")
    except InvalidRequest as exc:
        return MemoryResult(request_id=body.request_id, error=str(exc), error_kind="invalid")
    return MemoryResult(request_id=body.request_id, hits=[as_memory_hit(h) for h in hits])


async def handle_query(worker: MemoryWorker, event: Envelope[Any], delivery: Delivery) -> None:
    body: MemoryQuery = event.body
    try:
        result = await search_in_session(worker, delivery.bus, event.session_id, body)
    except StoreUnavailable as exc:
        if not last_attempt(delivery, worker.max_attempts):
            await log_line(delivery.bus, event, f"retry-{delivery.attempt}", "warn", f"{exc}; retrying")
            raise
        result = MemoryResult(request_id=body.request_id, error=str(exc), error_kind="unavailable")
        await reply(delivery.bus, event, result, "error", f"memory query failed: {exc}")
        return
    if result.error_kind == "unknown_namespace" and result.error != not_yours(body.namespace):
        await reply(delivery.bus, event, result, "warn", f"memory query failed: {result.error}")
    elif result.error_kind is not None:
        await reply(delivery.bus, event, result, "warn", f"memory query refused: {result.error}")
    else:
        line = f"{len(result.hits)} memories for {_short(body.query)!r} in {body.namespace}"
        await reply(delivery.bus, event, result, "memory", line)
