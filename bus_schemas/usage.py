"""What a twin costs: one event per LLM call (`usage.llm.<session>`) and per tool run, build or MCP
call (`usage.run.<session>`), the operator's price table, and the usage report over HTTP.

The events are the ledger (in PAGI_EVENTS, replayable, idempotent by the id the planner or worker
derives from the call); totals are computed from them, never kept apart from them.
"""

from __future__ import annotations

from datetime import date
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from .envelope import Body

CURRENCY: Final = "USD"
# `GET /v1/usage?by=`: how totals are grouped.
UsageGrouping = Literal["twin", "user", "session", "model"]
USAGE_GROUPINGS: Final = ("twin", "user", "session", "model")


class LlmUsage(Body):
    """One call to a language model, as the planner made it."""

    provider: str = Field(max_length=40)
    model: str = Field(max_length=200)
    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)
    # The provider reported no usage: the tokens are estimated from the text (about 4 characters a token).
    estimated: bool = False
    latency_ms: float = Field(ge=0)
    # None: no price is known for this provider and model ("unknown", never zero).
    cost: float | None = Field(default=None, ge=0)
    currency: str = CURRENCY
    # Whose it was, for the totals by twin and user (the envelope carries session and job).
    twin_id: str = Field(max_length=64)
    user_id: str | None = Field(default=None, max_length=128)
    # The step of the job the call decided (a repair is the same step, counted in the same event).
    step: int = Field(ge=1)


class RunUsage(Body):
    """One tool run, build or MCP call: its wall time and, where the sandbox measured it, its CPU."""

    kind: Literal["tool", "build", "mcp"]
    name: str = Field(max_length=200)
    wall_ms: float = Field(ge=0)
    cpu_ms: float | None = Field(default=None, ge=0)
    twin_id: str | None = Field(default=None, max_length=64)
    user_id: str | None = Field(default=None, max_length=128)


class Price(BaseModel):
    """Per million tokens, in USD, as of a date (prices change; the table says when it was right)."""

    model_config = ConfigDict(extra="forbid")

    provider: str = Field(max_length=40)
    model: str = Field(max_length=200)
    input_per_million: float = Field(ge=0)
    output_per_million: float = Field(ge=0)
    as_of: date


class PriceWrite(BaseModel):
    """`PUT /v1/prices/{provider}/{model}`: the operator's price (as_of defaults to today)."""

    model_config = ConfigDict(extra="forbid")

    input_per_million: float = Field(ge=0, le=1_000_000)
    output_per_million: float = Field(ge=0, le=1_000_000)
    as_of: date | None = None


class PriceList(BaseModel):
    """`GET /v1/prices`: the shipped defaults overlaid with the operator's entries."""

    model_config = ConfigDict(extra="forbid")

    prices: list[Price] = Field(default_factory=list)
    currency: str = CURRENCY


class UsageTotal(BaseModel):
    """The sum of a group's LLM calls: tokens, cost and calls. `cost` is the priced calls' sum, with
    `unpriced_calls` beside it (their cost unknown, not zero); None when no call was priced at all."""

    model_config = ConfigDict(extra="forbid")

    key: str
    # The last PAGI_EVENTS sequence counted in (KV USAGE): an event at or below it was counted already.
    seq: int = 0
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    estimated_calls: int = 0
    cost: float | None = 0.0
    unpriced_calls: int = 0
    run_wall_ms: float = 0.0
    # The sandboxed CPU of the runs that measured it (RunUsage.cpu_ms), with how many did.
    run_cpu_ms: float = 0.0
    cpu_measured_runs: int = 0


class UsageDay(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day: date
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = 0.0


class UsageReport(BaseModel):
    """`GET /v1/usage`: totals by the asked grouping, a day-by-day series, the most expensive sessions."""

    model_config = ConfigDict(extra="forbid")

    by: UsageGrouping
    since: float | None = None
    until: float | None = None
    total: UsageTotal
    groups: list[UsageTotal] = Field(default_factory=list)
    days: list[UsageDay] = Field(default_factory=list)
    top_sessions: list[UsageTotal] = Field(default_factory=list)
    currency: str = CURRENCY
