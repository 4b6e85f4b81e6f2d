"""The price table: per provider and model, per million input and output tokens, in USD.

The operator's entries (KV PRICES, `<provider>.<model>`) come first; the shipped defaults below
cover the presets' default models (planner/llm/presets.py), as published on `DEFAULTS_AS_OF`.
Anything else has no price: its cost is unknown (None), never zero.
"""

from __future__ import annotations

import time
from datetime import date
from typing import Final

from bus_schemas.streams import PRICES
from bus_schemas.usage import Price
from pagi.bus import Bus
from pagi.stores import KVStore

from .usage import key_token

# The providers' list prices on this date; check them before relying on a cost.
DEFAULTS_AS_OF: Final = date(2025, 10, 1)
_DEFAULTS: Final = (
    ("openai", "gpt-4o-mini", 0.15, 0.60),
    ("openrouter", "openai/gpt-4o-mini", 0.15, 0.60),
    ("anthropic", "claude-haiku-4-5", 1.00, 5.00),
    ("gemini", "gemini-2.5-flash", 0.30, 2.50),
    ("deepseek", "deepseek-chat", 0.28, 0.42),
    ("mistral", "mistral-small-latest", 0.10, 0.30),
    ("grok", "grok-3-mini", 0.30, 0.50),
)
DEFAULTS: Final = {
    (p, m): Price(provider=p, model=m, input_per_million=i, output_per_million=o, as_of=DEFAULTS_AS_OF)
    for p, m, i, o in _DEFAULTS
}


def price_key(provider: str, model: str) -> str:
    return f"{key_token(provider)}.{key_token(model)}"


def cost_of(price: Price | None, input_tokens: int, output_tokens: int) -> float | None:
    if price is None:
        return None
    return (input_tokens * price.input_per_million + output_tokens * price.output_per_million) / 1_000_000


class PriceTable:
    """`cache_s`: how long a price read is reused (the planner prices every LLM call; an operator's
    change reaches it within that time). 0: read KV every time (the edge and the CLI)."""

    def __init__(self, kv: KVStore, cache_s: float = 0.0) -> None:
        self.kv = kv
        self.cache_s = cache_s
        self._cached: dict[tuple[str, str], tuple[float, Price | None]] = {}

    @classmethod
    async def open(cls, bus: Bus, cache_s: float = 0.0) -> PriceTable:
        return cls(await bus.kv(PRICES), cache_s)

    async def get(self, provider: str, model: str) -> Price | None:
        now = time.monotonic()
        hit = self._cached.get((provider, model))
        if hit is not None and now - hit[0] < self.cache_s:
            return hit[1]
        found = await self.kv.get_model(price_key(provider, model), Price) or DEFAULTS.get((provider, model))
        if self.cache_s > 0:
            self._cached[(provider, model)] = (now, found)
        return found

    async def all(self) -> list[Price]:
        table = dict(DEFAULTS)
        for key in await self.kv.keys(">"):
            if (price := await self.kv.get_model(key, Price)) is not None:
                table[(price.provider, price.model)] = price
        return sorted(table.values(), key=lambda p: (p.provider, p.model))

    async def put(self, price: Price) -> None:
        await self.kv.put(price_key(price.provider, price.model), price.model_dump_json().encode())
