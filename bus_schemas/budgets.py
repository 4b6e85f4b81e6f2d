"""Budgets: how much a user, a twin or the whole install may spend on language models per day or
month, in tokens or in money (KV `pagi_budgets`, key `<scope-kind>.<token>.<period>`, see
records/budgets.py).

A budget asks instead of failing: when a job's next LLM call would cross it, the planner makes that
step an `ActionBudget` approval (approve once, approve and raise the limit, or deny and the twin
answers that the budget is spent). A ceiling is the separate hard limit no approval passes.

Spending is read from the usage ledger's totals (KV `pagi_usage`), so a call is counted once the
ledger has counted its `usage.llm` event: what concurrent jobs can overshoot is bounded by the calls
in flight (started, or finished and not yet counted) when the budget was reached.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .usage import CURRENCY

BudgetPeriod = Literal["day", "month"]
BUDGET_PERIODS: Final = ("day", "month")
BudgetUnit = Literal["tokens", "money"]
# `global`, `user:<user id>` or `twin:<twin id>` (user ids are API-key names: no spaces, no dots).
BUDGET_SCOPE_PATTERN: Final = r"^(global|user:[A-Za-z0-9_@+=-]{1,128}|twin:[A-Za-z0-9_-]{1,64})$"


class BudgetWrite(BaseModel):
    """`PUT /v1/budgets/{scope}`: one budget of a scope for a period. At least one limit or ceiling;
    a ceiling is at least its limit (a ceiling below the limit would make the limit meaningless)."""

    model_config = ConfigDict(extra="forbid")

    period: BudgetPeriod
    # Asks for approval past this many tokens (input + output) in the period.
    tokens: int | None = Field(default=None, ge=1, le=10**13)
    # Asks for approval past this much money (USD, priced calls only: a call of unknown price counts 0).
    money: float | None = Field(default=None, gt=0, le=10**9)
    # Hard limits: no approval passes them.
    ceiling_tokens: int | None = Field(default=None, ge=1, le=10**13)
    ceiling_money: float | None = Field(default=None, gt=0, le=10**9)

    @model_validator(mode="after")
    def _consistent(self) -> BudgetWrite:
        if self.tokens is None and self.money is None and self.ceiling_tokens is None and self.ceiling_money is None:
            raise ValueError("a budget needs tokens, money, ceiling_tokens or ceiling_money")
        if self.tokens is not None and self.ceiling_tokens is not None and self.ceiling_tokens < self.tokens:
            raise ValueError("ceiling_tokens is below tokens")
        if self.money is not None and self.ceiling_money is not None and self.ceiling_money < self.money:
            raise ValueError("ceiling_money is below money")
        return self


class Budget(BudgetWrite):
    """As kept in KV `pagi_budgets`."""

    scope: str = Field(pattern=BUDGET_SCOPE_PATTERN)
    updated_by: str = Field(max_length=160)
    updated_at: datetime


class BudgetStatus(Budget):
    """A budget with what its period has spent so far (`GET /v1/budgets`)."""

    period_start: date
    spent_tokens: int = 0
    # None: no call in the period had a known price.
    spent_money: float | None = 0.0
    unpriced_calls: int = 0
    currency: str = CURRENCY


class BudgetList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    budgets: list[BudgetStatus] = Field(default_factory=list)
