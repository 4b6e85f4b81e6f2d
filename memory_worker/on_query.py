"""memory.query.<session> -> memory.result.<session>: hybrid search, top-k hits."""

from __future__ import annotations

from typing import Any

from bus_schemas import Envelope
from bus_schemas.memory import MemoryQuery, MemoryResult
from pagi.bus import Delivery
from records.access import may_use_namespace_in_session

from .errors import InvalidRequest, StoreUnavailable, UnknownNamespace, not_yours
from .records import as_memory_hit
from .replies import last_attempt, log_line, reply
from .worker import MemoryWorker


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def handle_query(worker: MemoryWorker, event: Envelope[Any], delivery: Delivery) -> None:
    body: MemoryQuery = event.body
    kbs = body.kbs or ([body.kb] if body.kb else None)
    owner = await worker.session_owner(delivery.bus, event.session_id)
    if not may_use_namespace_in_session(owner, body.namespace):
        result = MemoryResult(
            request_id=body.request_id, error=not_yours(body.namespace), error_kind="unknown_namespace"
        )
        await reply(delivery.bus, event, result, "warn", f"memory query refused: {not_yours(body.namespace)}")
        return
    try:
        hits = await worker.run(worker.memory.search, body.query, body.namespace, kbs, body.top_k)
    except UnknownNamespace as exc:
        told = exc.told_to(lambda namespace: may_use_namespace_in_session(owner, namespace))
        result = MemoryResult(request_id=body.request_id, error=told, error_kind="unknown_namespace")
        await reply(delivery.bus, event, result, "warn", f"memory query failed: {told}")
        return
    except InvalidRequest as exc:
        result = MemoryResult(request_id=body.request_id, error=str(exc), error_kind="invalid")
        await reply(delivery.bus, event, result, "warn", f"memory query refused: {exc}")
        return
    except StoreUnavailable as exc:
        if not last_attempt(delivery, worker.max_attempts):
            await log_line(delivery.bus, event, f"retry-{delivery.attempt}", "warn", f"{exc}; retrying")
            raise
        result = MemoryResult(request_id=body.request_id, error=str(exc), error_kind="unavailable")
        await reply(delivery.bus, event, result, "error", f"memory query failed: {exc}")
        return
    result = MemoryResult(
        request_id=body.request_id,
        hits=[as_memory_hit(h) for h in hits],
    )
    await reply(
        delivery.bus, event, result, "memory", f"{len(hits)} memories for {_short(body.query)!r} in {body.namespace}"
    )
