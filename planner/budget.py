"""The budget gate: before the Decider calls a model for a job step, every budget the call counts
against (the install's, the job's user's, the twin's; per day and per month; records/budgets.py) is
checked against what its period has spent plus an estimate of this call.

- Over a ceiling (or at it): no call, no approval; the job answers that the hard ceiling is reached.
- Over a limit: no call; the step is an `ActionBudget` (decided by "budget"), asked like any gated
  step (planner/actions.py BudgetKind). Approved, it is observed and the job decides again: the gate
  sees that the steps just before are approved `ActionBudget`s and lets exactly that one call pass
  those budgets (a limit raised on approval is in KV before the check, so it counts from then on).
- The estimate: the prompt's tokens (about four characters a token, planner/usage.py) plus the
  reply the twin may write, `min(twin.token_limit, config.max_tokens, EXPECTED_REPLY_TOKENS)`; in
  money, that priced by the table (an unpriced model's call counts 0, as the ledger counts it).

Exactly once: the decision is recorded as the step, and a redelivered trigger reuses the recorded
step (planner/loop.py), so a redelivery neither asks again nor calls the model again; the call's
usage event id derives from job and step, so the ledger counts it once. A step whose call was made
but not recorded (a crash in between) is decided again with that call already counted: it may then
ask for the budget where the first attempt did not, never spend past it unasked.

The overshoot bound: spending is read from the ledger's totals (KV USAGE), which count a call once
its `usage.llm` event has been consumed (one event at a time, planner/ledger.py). Before reading,
the gate waits (at most `LEDGER_WAIT_S`) until the ledger has no event left to count, so a call
that finished before the check is counted in it (a job's own previous call is, whenever the
ledger catches up in time). A call passes
when the spent total it reads plus its estimate is within the budget, so what can overshoot is the
calls in flight when the budget was reached: started and not yet finished. With J jobs counting
against one budget at once (each has at most one model call outstanding), the total spent once
every job has stopped at the budget is at most `limit + (J - 1) * C + max(0, C - E)`, C the largest
call and E its estimate: each other job's one call in flight, plus how far the last passing call ran
over its estimate (tests/budgets/test_budget_flow.py holds two jobs of one user to it). A ledger
that does not catch up within the wait (stalled, or never idle under load) widens the bound by the
calls it has not counted; the gate logs that. The wait costs a budgeted call little: the ledger
counts an event in milliseconds, so it is idle between events unless they come faster than it
counts them (then every budgeted call waits the whole `LEDGER_WAIT_S`). Without budgets for the
job's scopes nothing is waited for.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from bus_schemas import ActionBudget, ActionResponse
from bus_schemas.budgets import BudgetStatus, BudgetUnit
from bus_schemas.jobs import JobRecord
from bus_schemas.streams import USAGE_LEDGER
from bus_schemas.twin import Twin
from pagi.bus import Bus
from records.budgets import BudgetStore, amount, ceiling_of, limit_of, scopes_of
from records.prices import PriceTable, cost_of

from .decision import Decision
from .llm import ProviderConfig
from .usage import estimate_tokens

log = logging.getLogger("planner.budget")

EXPECTED_REPLY_TOKENS: Final = 1024
# How long a gated call waits for the ledger to count what was already spent, and how often it looks.
LEDGER_WAIT_S: Final = 0.5
LEDGER_POLL_S: Final = 0.005
DECIDED_BY: Final = "budget"
UNITS: Final[tuple[BudgetUnit, ...]] = ("tokens", "money")

Passed = frozenset[tuple[str, str, str]]


@dataclass(frozen=True)
class Estimate:
    tokens: int
    money: float  # 0 when the model has no price (its calls count 0 against a money budget)

    def of(self, unit: BudgetUnit) -> float:
        return float(self.tokens) if unit == "tokens" else self.money


def spent_of(status: BudgetStatus, unit: BudgetUnit) -> float:
    return float(status.spent_tokens) if unit == "tokens" else (status.spent_money or 0.0)


def over(spent: float, estimate: float, bound: float) -> bool:
    return spent >= bound or spent + estimate > bound


def approved_past(job: JobRecord) -> Passed:
    """The budgets the steps just before this decision were approved past (observed budget steps:
    a denied one ends the job, so an observed one was approved)."""
    passed: set[tuple[str, str, str]] = set()
    for step in reversed(job.steps):
        if step.action_type != "ActionBudget" or step.observation is None:
            break
        action = ActionBudget.model_validate(step.action)
        passed.add((action.scope, action.period, action.unit))
    return frozenset(passed)


class BudgetGate:
    def __init__(self, bus: Bus, store: BudgetStore, prices: PriceTable) -> None:
        self.bus = bus
        self.store = store
        self.prices = prices

    async def ledger_caught_up(self) -> bool:
        """Wait until the ledger has counted every usage event published so far (bounded)."""
        deadline = time.monotonic() + LEDGER_WAIT_S
        while True:
            state = await self.bus.consumer_state(USAGE_LEDGER.stream, USAGE_LEDGER.durable)
            if state is None or state.num_pending + state.num_ack_pending == 0:
                return True
            if time.monotonic() >= deadline:
                log.warning(
                    "the usage ledger still had %d usage event(s) to count after %.1f s: budgets read without them",
                    state.num_pending + state.num_ack_pending,
                    LEDGER_WAIT_S,
                )
                return False
            await asyncio.sleep(LEDGER_POLL_S)

    async def estimate(self, twin: Twin, config: ProviderConfig, prompt: str) -> Estimate:
        tokens_in = estimate_tokens(prompt)
        tokens_out = min(twin.token_limit, config.max_tokens, EXPECTED_REPLY_TOKENS)
        cost = cost_of(await self.prices.get(config.provider, config.model), tokens_in, tokens_out)
        return Estimate(tokens_in + tokens_out, cost or 0.0)

    async def check(self, job: JobRecord, twin: Twin, config: ProviderConfig, prompt: str) -> Decision | None:
        """None: the call may go ahead; else the step's decision instead of the call."""
        budgets = await self.store.of_scopes(scopes_of(job.user_id, job.twin_id))
        if not budgets:
            return None
        await self.ledger_caught_up()
        today = datetime.now(UTC).date()
        statuses = await asyncio.gather(*(self.store.status(b, today) for b in budgets))
        estimate = await self.estimate(twin, config, prompt)
        for status in statuses:
            for unit in UNITS:
                ceiling = ceiling_of(status, unit)
                if ceiling is not None and over(spent_of(status, unit), estimate.of(unit), ceiling):
                    return _ceiling_reached(status, unit, estimate)
        passed = approved_past(job)
        for status in statuses:
            for unit in UNITS:
                limit = limit_of(status, unit)
                if limit is None or (status.scope, status.period, unit) in passed:
                    continue
                if over(spent_of(status, unit), estimate.of(unit), limit):
                    return _ask(status, unit, estimate)
        return None


def _action(status: BudgetStatus, unit: BudgetUnit, estimate: Estimate) -> ActionBudget:
    return ActionBudget(
        scope=status.scope,
        period=status.period,
        unit=unit,
        limit=limit_of(status, unit) or 0.0,
        spent=spent_of(status, unit),
        estimate=estimate.of(unit),
        ceiling=ceiling_of(status, unit),
        currency=status.currency,
    )


def _raw(rule: str, action: ActionBudget, status: BudgetStatus) -> str:
    shown = action.model_dump(exclude={"action_type", "raise_to"})
    return json.dumps({"rule": rule, **shown, "period_start": status.period_start.isoformat()})


def _ask(status: BudgetStatus, unit: BudgetUnit, estimate: Estimate) -> Decision:
    action = _action(status, unit, estimate)
    return Decision(action, _raw("budget-limit", action, status), DECIDED_BY)


def _ceiling_reached(status: BudgetStatus, unit: BudgetUnit, estimate: Estimate) -> Decision:
    action = _action(status, unit, estimate)
    assert action.ceiling is not None

    def of(value: float) -> str:
        return amount(value, unit, status.currency)

    content = (
        f"The hard ceiling of the {status.period} {unit} budget of {status.scope} is reached: "
        f"{of(action.spent)} spent, the next LLM call needs about {of(action.estimate)}, and the ceiling "
        f"is {of(action.ceiling)}. No approval can pass a ceiling; an operator can raise it."
    )
    return Decision(ActionResponse(content=content), _raw("budget-ceiling", action, status), DECIDED_BY)
