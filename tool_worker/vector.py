"""vector_query: the built-in that asks the memory worker over the bus and waits for its answer."""

from __future__ import annotations

import time
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from bus_schemas import Envelope, MemoryQuery, MemoryResult, derived_id
from bus_schemas.subjects import MEMORY_QUERY, MEMORY_RESULT, session_subject
from pagi.bus import Bus, ReplyTimeout, request_over_stream
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
    query = MemoryQuery(
        request_id=derived_id(trigger.id, "vector-query"),
        query=args.query,
        kb=args.kb,
        top_k=args.top_k,
        namespace=VectorQuerySettings().namespace,
    )
    request = trigger.caused("vector-query", MEMORY_QUERY, query)
    reply_subject = session_subject(MEMORY_RESULT, trigger.session_id)
    started = time.perf_counter()
    try:
        result = await request_over_stream(bus, request, reply_subject, MemoryResult, timeout_s)
    except ReplyTimeout:
        return RunResult.refused(isolation, "unavailable", f"the memory worker did not answer in {timeout_s:g} s")
    elapsed = (time.perf_counter() - started) * 1000.0
    if result.error:
        return RunResult(1, "", result.error, elapsed, False, isolation, error=result.error)
    return RunResult(0, format_hits(result), "", elapsed, False, isolation)
