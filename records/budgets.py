"""Budgets in KV (`pagi_budgets`, key `<global|user|twin>.<token>.<day|month>`, bus_schemas/budgets.py)
and what each has spent, read from the usage ledger's totals (KV `pagi_usage`, records/usage.py).

A scope is `global`, `user:<id>` or `twin:<id>`; its key token is `all` for global, else the id
escaped by `key_token` (the same token the ledger's keys use). A month's spending is the sum of its
days so far (UTC). A record that does not parse is logged and treated as no budget: a hand-edited
bucket must never stop the planner.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, date, datetime, timedelta
from typing import Final

from pydantic import ValidationError

from bus_schemas.budgets import (
    BUDGET_PERIODS,
    BUDGET_SCOPE_PATTERN,
    Budget,
    BudgetPeriod,
    BudgetStatus,
    BudgetUnit,
    BudgetWrite,
)
from bus_schemas.streams import BUDGETS, USAGE
from bus_schemas.usage import CURRENCY, UsageTotal
from pagi.bus import Bus
from pagi.stores import KVMirror, KVStore

from . import kvjson
from .usage import ALL, key_token, merge

log = logging.getLogger("records.budgets")

GLOBAL: Final = "global"
_SCOPE_RE: Final = re.compile(BUDGET_SCOPE_PATTERN)
# How often a limit is raised by compare-and-set before giving up (each retry re-reads the record).
_CAS_TRIES: Final = 8


class BudgetError(ValueError):
    """A clear reason a budget cannot be written or raised (bad scope, no such budget, over its ceiling)."""


def check_scope(scope: str) -> str:
    if not _SCOPE_RE.match(scope):
        raise BudgetError(f"scope {scope!r} is not 'global', 'user:<id>' or 'twin:<id>'")
    return scope


def _kind_token(scope: str) -> tuple[str, str]:
    check_scope(scope)
    if scope == GLOBAL:
        return GLOBAL, ALL
    kind, _, ident = scope.partition(":")
    return kind, key_token(ident)


def budget_key(scope: str, period: BudgetPeriod) -> str:
    """`global.all.day`, `user.<key_token(id)>.day`, `twin.<key_token(id)>.month`."""
    kind, token = _kind_token(scope)
    return f"{kind}.{token}.{period}"


def scopes_of(user_id: str | None, twin_id: str) -> list[str]:
    """Every scope a job's LLM call counts against: the install, its user (if any), its twin."""
    return [GLOBAL, *([f"user:{user_id}"] if user_id else []), f"twin:{twin_id}"]


def period_start(period: BudgetPeriod, today: date) -> date:
    return today if period == "day" else today.replace(day=1)


def usage_suffix(scope: str) -> str:
    """The ledger's total for a scope on a day is `<day>.<suffix>` (records/usage.keys_for)."""
    kind, token = _kind_token(scope)
    return f"{ALL}.{ALL}" if kind == GLOBAL else f"{kind}.{token}"


def _today() -> date:
    return datetime.now(UTC).date()


def limit_of(budget: Budget, unit: BudgetUnit) -> float | None:
    return budget.tokens if unit == "tokens" else budget.money


def ceiling_of(budget: Budget, unit: BudgetUnit) -> float | None:
    return budget.ceiling_tokens if unit == "tokens" else budget.ceiling_money


def amount(value: float, unit: BudgetUnit, currency: str = CURRENCY) -> str:
    """An amount as a person reads it: `12,345 tokens`, `0.0123 USD`."""
    return f"{value:,.0f} tokens" if unit == "tokens" else f"{value:.4g} {currency}"


class BudgetStore:
    def __init__(self, kv: KVStore, usage: KVStore) -> None:
        self.kv = kv
        self.usage = usage
        self._mirror: KVMirror | None = None

    def mirrored(self) -> KVMirror:
        """Look budgets up in memory, kept in step by a watch (for the gate before every model call;
        the caller runs it): a budget written a moment ago applies once the watch brings it, as if
        it had been written just after the call it missed."""
        self._mirror = KVMirror(self.kv, ">")
        return self._mirror

    @classmethod
    async def open(cls, bus: Bus) -> BudgetStore:
        return cls(await bus.kv(BUDGETS), await bus.kv(USAGE))

    async def _parsed(self, key: str) -> tuple[Budget, int] | None:
        found = await self.kv.get(key)
        if found is None:
            return None
        budget = self._valid(key, found[0])
        return None if budget is None else (budget, found[1])

    def _valid(self, key: str, data: bytes) -> Budget | None:
        try:
            return Budget.model_validate_json(data)
        except ValidationError as exc:
            log.error("budget %s in KV %s is malformed, ignored until rewritten: %s", key, BUDGETS.bucket, exc)
            return None

    async def get(self, scope: str, period: BudgetPeriod) -> Budget | None:
        found = await self._parsed(budget_key(scope, period))
        return None if found is None else found[0]

    async def put(self, scope: str, write: BudgetWrite, by: str) -> Budget:
        """Replaces the scope's budget for `write.period`."""
        budget = Budget(**write.model_dump(), scope=check_scope(scope), updated_by=by, updated_at=datetime.now(UTC))
        await self.kv.put(budget_key(scope, write.period), budget.model_dump_json().encode())
        return budget

    async def delete(self, scope: str, period: BudgetPeriod) -> bool:
        key = budget_key(scope, period)
        if await self.kv.get(key) is None:
            return False
        await self.kv.delete(key)
        return True

    async def all(self) -> list[Budget]:
        keys = await self.kv.keys(">")
        found = await asyncio.gather(*(self._parsed(k) for k in keys))
        return sorted((f[0] for f in found if f is not None), key=lambda b: (b.scope, b.period))

    async def of_scopes(self, scopes: list[str]) -> list[Budget]:
        """The budgets of these scopes, both periods (missing and malformed ones left out; a scope no
        budget can be written for, such as a user id with a dot, has none)."""
        valid = [s for s in scopes if _SCOPE_RE.match(s)]
        mirror = self._mirror
        if mirror is not None and mirror.ready:
            keys = [budget_key(s, p) for s in valid for p in BUDGET_PERIODS]
            found = [self._valid(k, data) for k in keys if (data := mirror.get(k)) is not None]
        else:
            found = await asyncio.gather(*(self.get(s, p) for s in valid for p in BUDGET_PERIODS))
        return [b for b in found if b is not None]

    async def raise_limit(self, scope: str, period: BudgetPeriod, unit: BudgetUnit, to: float, by: str) -> Budget:
        """Compare-and-set the limit of `unit` up to `to` (a limit already at or above it is kept)."""
        key = budget_key(scope, period)
        for _ in range(_CAS_TRIES):
            found = await self._parsed(key)
            if found is None:
                raise BudgetError(f"no {period} budget of {scope} to raise")
            current, revision = found
            ceiling = ceiling_of(current, unit)
            if ceiling is not None and to > ceiling:
                raise BudgetError(f"{to:g} {unit} is over the {period} ceiling of {scope} ({ceiling:g})")
            limit = limit_of(current, unit)
            if limit is not None and limit >= to:
                return current
            field = "tokens" if unit == "tokens" else "money"
            value: float = int(to) if unit == "tokens" else to
            raised = current.model_copy(update={field: value, "updated_by": by, "updated_at": datetime.now(UTC)})
            if await self.kv.update(key, raised.model_dump_json().encode(), revision):
                return raised
        raise kvjson.ConcurrentUpdate(f"{key} kept changing while its limit was raised")

    async def spent(self, scope: str, period: BudgetPeriod, today: date | None = None) -> UsageTotal:
        """The ledger's total of the scope over the period so far."""
        day = today or _today()
        first = period_start(period, day)
        suffix = usage_suffix(scope)
        days = [first + timedelta(days=i) for i in range((day - first).days + 1)]
        totals = await asyncio.gather(*(self.usage.get_model(f"{d.isoformat()}.{suffix}", UsageTotal) for d in days))
        return merge(scope, [t for t in totals if t is not None])

    async def status(self, budget: Budget, today: date | None = None) -> BudgetStatus:
        day = today or _today()
        total = await self.spent(budget.scope, budget.period, day)
        return BudgetStatus(
            **budget.model_dump(),
            period_start=period_start(budget.period, day),
            spent_tokens=total.input_tokens + total.output_tokens,
            spent_money=total.cost,
            unpriced_calls=total.unpriced_calls,
        )

    async def statuses(self, scopes: list[str] | None = None) -> list[BudgetStatus]:
        """Every budget with its spending (`scopes` None), or only those of the given scopes."""
        budgets = await self.all() if scopes is None else await self.of_scopes(scopes)
        today = _today()
        return list(await asyncio.gather(*(self.status(b, today) for b in budgets)))
