"""Exactly once under redelivery: a budget step redelivered to another planner copy asks nothing new
and calls no model; the approved call redelivered is neither made nor counted again; the approving
decision redelivered raises nothing twice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bus_schemas.streams import EVENTS, USAGE
from bus_schemas.subjects import APPROVE_REQUEST, USAGE_LLM, one_session
from bus_schemas.usage import UsageTotal
from pagi.bus import Bus, PullConsumer
from planner.__main__ import planner_over
from planner.budget import BudgetGate
from planner.context import ContextBuilder
from planner.control import ControlHandler
from planner.decider import Decider
from planner.llm.guard import guarded_session
from planner.loop import Planner
from planner.usage import UsageRecorder
from records.approvals import ApprovalStore
from records.budgets import BudgetStore
from records.bundle import open_records
from records.jobs import JobStore
from records.prices import PriceTable
from records.twins import TwinStore

from ..fake_llm import FakeLLMServer, Reply
from ..support import ObserveFactory, eventually
from .conftest import Say, budget_requests, decide, llm_twin, put_budget, today, tool_call

ENV = {"PAGI_LLM_ALLOW_PRIVATE": "1"}


@pytest.fixture
async def second_copy(bus: Bus, budgets: BudgetStore) -> AsyncIterator[Planner]:
    """Another planner copy over the same bus and records, as a redelivery to it would find them."""
    records = await open_records(bus)
    prices = await PriceTable.open(bus)
    async with guarded_session(ENV) as http:
        decider = Decider(
            ContextBuilder(bus, records.tools, records.mcp_tools), http, ENV, UsageRecorder(bus, prices),
            BudgetGate(bus, budgets, prices),
        )  # fmt: skip
        yield planner_over(bus, records, decider, budgets)


async def stored(bus: Bus, subject: str) -> int:
    info = await bus.nc.jetstream().stream_info(EVENTS.name, subjects_filter=subject)
    return sum((info.state.subjects or {}).values())


async def test_redelivered_budget_steps_and_decisions_count_once(
    bus: Bus, planner: list[PullConsumer], twins: TwinStore, budgets: BudgetStore, fake_llm: FakeLLMServer,
    observe: ObserveFactory, session_id: str, say: Say, second_copy: Planner,
) -> None:  # fmt: skip
    twin_id = await llm_twin(twins, fake_llm, "anthropic")
    twin = await twins.get_or_default(twin_id)
    await put_budget(budgets, f"twin:{twin_id}", tokens=10_000)
    fake_llm.script(Reply(tool_call(36_000), chunk_size=4000), Reply(tool_call(40)))
    events = await observe(one_session(session_id))
    chat = await say("work on it", twin_id)
    await events.wait_for(lambda _: len(budget_requests(events)) >= 1, 15)
    [first] = budget_requests(events)
    jobs = await JobStore.open(bus)
    approvals = await ApprovalStore.open(bus)

    async def job() -> Any:
        found = await jobs.get(session_id, chat.id)
        assert found is not None
        return found

    # The trigger of the budget step, delivered again (to another copy): the recorded step is reused.
    before = await job()
    budget_step = before.steps[-1]
    await second_copy.next_step(before, twin, budget_step.trigger_id, None)
    after = await job()
    assert len(fake_llm.requests) == 1 and [s.step for s in after.steps] == [1, 2]
    assert [p.approval_id for p in await approvals.pending(session_id)] == [first.body.approval_id]
    assert await stored(bus, f"{APPROVE_REQUEST}.{session_id}") == 1  # the same request id: dropped

    decision = await decide(bus, session_id, first.body.approval_id, limit=12_000)
    await events.wait_for(lambda _: len(budget_requests(events)) >= 2, 15)
    assert len(fake_llm.requests) == 2
    raised = await budgets.get(f"twin:{twin_id}", "day")
    assert raised is not None and raised.tokens == 12_000

    # The approved call's trigger again: its step is recorded, so no model call and no second count.
    now = await job()
    called = next(s for s in now.steps if s.step == 3)
    await second_copy.next_step(now, twin, called.trigger_id, None)
    assert len(fake_llm.requests) == 2
    assert await stored(bus, f"{USAGE_LLM}.{session_id}") == 2

    async def total() -> UsageTotal | None:
        found = await (await bus.kv(USAGE)).get_model(f"{today()}.session.{session_id}", UsageTotal)
        return found if found is not None and found.calls >= 2 else None

    counted = await eventually(total, what="both calls counted")
    assert counted is not None and counted.calls == 2

    # The approving decision again: the job is past it; nothing raised, asked or called again.
    await ControlHandler(second_copy).decision(decision)
    assert len(fake_llm.requests) == 2 and len(budget_requests(events)) == 2
    again = await budgets.get(f"twin:{twin_id}", "day")
    assert again is not None and again.updated_at == raised.updated_at
