"""vector_query: the built-in that asks the memory worker by request/reply and waits for its answer.

The question goes to the memory worker's `api.memory.session` endpoint and the answer comes back
on the tool worker's own inbox, so the tool worker needs no right to read `memory.result` (anyone's
memory answers) or to publish `memory.query`. The memory worker checks the session's owner may use
the namespace (records.access), as it does for every memory query."""

from __future__ import annotations

import time
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from bus_schemas import Envelope, MemoryResult, derived_id
from bus_schemas.memory import MEMORY_SESSION_API_SUBJECT, SessionMemoryQuery
from pagi.bus import Bus, BusUnavailable
from sandbox.result import Isolation, RunResult

from .builtins import VectorQueryArgs

TIMEOUT_S = 30.0


class VectorQuerySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    # The memory namespace the built-in searches (its arguments name a knowledge base, not a namespace).
    namespace: str = Field(default="default", alias="PAGI_MEMORY_NAMESPACE")


def format_hits(result: MemoryResult) -> str:
    lines = [f"{i}. [{h.kb} {h.score:.3f}] {h.text}" for i, h in enumerate(result.hits, 1)]
    return "\n".join(lines) + ("\n" if lines else "no matches\n")


async def vector_query(
    bus: Bus, trigger: Envelope[Any], args: VectorQueryArgs, isolation: Isolation, timeout_s: float = TIMEOUT_S
) -> RunResult:
    query = SessionMemoryQuery(
        request_id=derived_id(trigger.id, "vector-query"),
        session_id=trigger.session_id,
        query=args.query,
        kb=args.kb,
        top_k=args.top_k,
        namespace=VectorQuerySettings().namespace,
    )
    started = time.perf_counter()
    try:
        result = await bus.request(MEMORY_SESSION_API_SUBJECT, query, MemoryResult, timeout_s)
    except BusUnavailable as exc:
        return RunResult.refused(isolation, "unavailable", f"the memory worker did not answer: {exc}")
    elapsed = (time.perf_counter() - started) * 1000.0
    if result.error:
        return RunResult(1, "", result.error, elapsed, False, isolation, error=result.error)
    return RunResult(0, format_hits(result), "", elapsed, False, isolation)
