"""vector_query: the built-in that asks the memory worker over the bus and waits for its answer."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from bus_schemas import Envelope, MemoryQuery, MemoryResult, derived_id
from bus_schemas.subjects import MEMORY_QUERY, MEMORY_RESULT, session_subject
from pagi.bus import Bus
from sandbox.result import Isolation, RunResult

from .builtins import VectorQueryArgs

TIMEOUT_S = 30.0


def format_hits(result: MemoryResult) -> str:
    lines = [f"{i}. [{h.kb} {h.score:.3f}] {h.text}" for i, h in enumerate(result.hits, 1)]
    return "\n".join(lines) + ("\n" if lines else "no matches\n")


async def vector_query(
    bus: Bus, trigger: Envelope[Any], args: VectorQueryArgs, isolation: Isolation, timeout_s: float = TIMEOUT_S
) -> RunResult:
    request_id = derived_id(trigger.id, "vector-query")
    answer: asyncio.Future[MemoryResult] = asyncio.get_running_loop().create_future()

    async def on_result(event: Envelope[Any]) -> None:
        if isinstance(event.body, MemoryResult) and event.body.request_id == request_id and not answer.done():
            answer.set_result(event.body)

    started = time.perf_counter()
    # Subscribe before asking, so the answer cannot slip past.
    observer = await bus.observe(session_subject(MEMORY_RESULT, trigger.session_id), on_result)
    try:
        await bus.nc.flush()
        query = MemoryQuery(
            request_id=request_id,
            query=args.query,
            kb=args.kb,
            top_k=args.top_k,
            namespace=os.environ.get("PAGI_MEMORY_NAMESPACE", "default"),
        )
        await bus.publish(trigger.caused("vector-query", MEMORY_QUERY, query))
        try:
            result = await asyncio.wait_for(answer, timeout_s)
        except TimeoutError:
            return RunResult.refused(isolation, "unavailable", f"the memory worker did not answer in {timeout_s:g} s")
    finally:
        await observer.stop()
    elapsed = (time.perf_counter() - started) * 1000.0
    if result.error:
        return RunResult(1, "", result.error, elapsed, False, isolation, error=result.error)
    return RunResult(0, format_hits(result), "", elapsed, False, isolation)
