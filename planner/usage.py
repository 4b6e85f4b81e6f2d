"""One `usage.llm.<session>` event per LLM call the planner makes, and the Prometheus counters.

Tokens are the provider's own count; when it reports none they are estimated from the text (about
four characters a token) and marked `estimated`. The event id is derived from the job and step, so a
redelivered step that calls the model again publishes the same id and JetStream drops the copy.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from typing import Any, Final

from bus_schemas import Envelope, derived_id
from bus_schemas.jobs import JobRecord
from bus_schemas.subjects import USAGE_LLM
from bus_schemas.usage import LlmUsage
from pagi.bus import Bus
from pagi.metrics import LLM_CALLS, LLM_COST, LLM_TOKENS
from records.prices import PriceTable, cost_of

from .llm import ProviderConfig
from .llm.decide import LLMDecision
from .llm.messages import ChatMessage

log = logging.getLogger("planner.usage")
CHARS_PER_TOKEN: Final = 4
# A price read is reused this long: a KV read per call was a tenth of the ledger's cost on the round trip.
PRICE_CACHE_S: Final = 30.0


def estimate_tokens(text: str) -> int:
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def prompt_text(messages: Sequence[ChatMessage], tools: Sequence[Any] = ()) -> str:
    parts = [m.content for m in messages]
    parts += [json.dumps([c.__dict__ for c in m.tool_calls], default=str) for m in messages if m.tool_calls]
    if tools:
        parts.append(json.dumps(list(tools), default=str))
    return "\n".join(parts)


def usage_id(job: JobRecord, step: int) -> str:
    return derived_id(job.job_id, f"usage-llm-step-{step}")


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    def ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000


class UsageRecorder:
    def __init__(self, bus: Bus, prices: PriceTable) -> None:
        self.bus = bus
        self.prices = prices

    async def record(
        self, job: JobRecord, config: ProviderConfig, decision: LLMDecision, prompt: str, latency_ms: float
    ) -> LlmUsage:
        estimated = decision.input_tokens is None or decision.output_tokens is None
        tokens_in = decision.input_tokens if decision.input_tokens is not None else estimate_tokens(prompt)
        tokens_out = decision.output_tokens if decision.output_tokens is not None else estimate_tokens(decision.raw)
        cost = cost_of(await self.prices.get(config.provider, config.model), tokens_in, tokens_out)
        step = len(job.steps) + 1
        usage = LlmUsage(
            provider=config.provider,
            model=config.model,
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            estimated=estimated,
            latency_ms=latency_ms,
            cost=cost,
            twin_id=job.twin_id,
            user_id=job.user_id,
            step=step,
        )
        event = Envelope[Any](
            id=usage_id(job, step),
            type=USAGE_LLM,
            session_id=job.session_id,
            job_id=job.job_id,
            twin_id=job.twin_id,
            body=usage,
        )
        await self.bus.publish(event)
        labels = {"twin": job.twin_id, "user": job.user_id or "", "provider": config.provider, "model": config.model}
        LLM_CALLS.labels(**labels).inc()
        LLM_TOKENS.labels(**labels, direction="input").inc(tokens_in)
        LLM_TOKENS.labels(**labels, direction="output").inc(tokens_out)
        if cost is not None:
            LLM_COST.labels(**labels).inc(cost)
        return usage
