"""Model replies an eval reuses: a provider that answers from KV `pagi_eval_replies` when the model
would see exactly what it saw before (the digest of the model, the messages, the tools and the JSON
mode), and otherwise asks the real provider once and keeps its reply, so the same run again calls
nothing. Counts what it did, for the case's result; a call it made is reported (`UsageSink`) like
any other LLM call the planner makes, for the usage ledger."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass

from pydantic import BaseModel, ConfigDict

from bus_schemas.usage import LlmUsage
from pagi.stores import KVStore
from records.prices import PriceTable, cost_of

from ..llm import Completion, LLMProvider, TextSink
from ..llm.messages import ChatMessage, ToolCall
from ..llm.tools import ToolSpec
from ..usage import estimate_tokens, prompt_text

# A call made (the digest of what the model saw, and its usage with the twin to fill in).
UsageSink = Callable[[str, LlmUsage], Awaitable[None]]


class KeptReply(BaseModel):
    """A reply as kept in KV `pagi_eval_replies` (key: the digest of what the model saw)."""

    model_config = ConfigDict(extra="forbid")

    label: str
    text: str
    finish_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    tool_calls: list[dict[str, str]] = []

    def completion(self) -> Completion:
        calls = tuple(ToolCall(**c) for c in self.tool_calls)
        return Completion(self.text, self.finish_reason, self.input_tokens, self.output_tokens, calls)


def digest(label: str, messages: Sequence[ChatMessage], json_mode: bool, tools: Sequence[ToolSpec]) -> str:
    seen = {
        "model": label,
        "json_mode": json_mode,
        "messages": [asdict(m) for m in messages],
        "tools": [asdict(t) for t in tools],
    }
    return hashlib.sha256(json.dumps(seen, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class Tally:
    """What one case's run cost: calls made, calls answered from a kept or recorded reply, tokens."""

    llm_calls: int = 0
    replayed_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = 0.0

    def add_cost(self, cost: float | None) -> None:
        self.cost = None if cost is None or self.cost is None else self.cost + cost


class KeptReplies(LLMProvider):
    """The real provider behind a digest-keyed cache of its replies; never streams."""

    def __init__(
        self, inner: LLMProvider, kv: KVStore, prices: PriceTable, tally: Tally, usage: UsageSink | None = None
    ) -> None:
        super().__init__(inner.config, inner.session)
        self.inner = inner
        self.kv = kv
        self.prices = prices
        self.tally = tally
        self.usage = usage

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        json_mode: bool = True,
        on_text: TextSink | None = None,
        tools: Sequence[ToolSpec] = (),
    ) -> Completion:
        key = digest(self.label, messages, json_mode and self.config.json_mode and not tools, tools)
        kept = await self.kv.get_model(key, KeptReply)
        if kept is not None:
            self.tally.replayed_calls += 1
            return kept.completion()
        started = time.perf_counter()
        completion = await self.inner.complete(messages, json_mode=json_mode, tools=tools)
        latency_ms = (time.perf_counter() - started) * 1000
        estimated = completion.input_tokens is None or completion.output_tokens is None
        tokens_in = completion.input_tokens
        tokens_out = completion.output_tokens
        if tokens_in is None:
            tokens_in = estimate_tokens(prompt_text(messages, tools))
        if tokens_out is None:
            tokens_out = estimate_tokens(completion.text)
        self.tally.llm_calls += 1
        self.tally.input_tokens += tokens_in
        self.tally.output_tokens += tokens_out
        cost = cost_of(await self.prices.get(self.config.provider, self.config.model), tokens_in, tokens_out)
        self.tally.add_cost(cost)
        record = KeptReply(
            label=self.label,
            text=completion.text,
            finish_reason=completion.finish_reason,
            input_tokens=completion.input_tokens,
            output_tokens=completion.output_tokens,
            tool_calls=[asdict(c) for c in completion.tool_calls],
        )
        await self.kv.put(key, record.model_dump_json().encode())
        if self.usage is not None:
            used = LlmUsage(
                provider=self.config.provider,
                model=self.config.model,
                input_tokens=tokens_in,
                output_tokens=tokens_out,
                estimated=estimated,
                latency_ms=latency_ms,
                cost=cost,
                twin_id="-",
                step=1,
            )
            await self.usage(key, used)
        return completion

    async def _complete_once(
        self, messages: Sequence[ChatMessage], json_mode: bool, tools: Sequence[ToolSpec]
    ) -> Completion:
        raise NotImplementedError("KeptReplies.complete asks the inner provider")

    async def _stream_once(
        self, messages: Sequence[ChatMessage], json_mode: bool, deliver: TextSink, tools: Sequence[ToolSpec]
    ) -> Completion:
        raise NotImplementedError("KeptReplies never streams")
