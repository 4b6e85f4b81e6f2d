"""records/budgets.py against a real nats-server: keys, spending read from the ledger's totals,
a compare-and-set raise, and a malformed record logged and ignored."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from datetime import date

import pytest

from bus_schemas.budgets import BudgetWrite
from bus_schemas.streams import BUDGETS, USAGE
from bus_schemas.usage import UsageTotal
from pagi.bus import Bus
from records.budgets import BudgetError, BudgetStore, budget_key, period_start, scopes_of

from ..support import eventually


def test_keys_and_scopes() -> None:
    assert budget_key("global", "day") == "global.all.day"
    assert budget_key("user:a@b=c", "day") == "user.a=40b=3Dc.day"
    assert budget_key("twin:t-1", "month") == "twin.t-1.month"
    assert scopes_of("u", "t") == ["global", "user:u", "twin:t"]
    assert scopes_of(None, "t") == ["global", "twin:t"]
    assert period_start("month", date(2026, 3, 17)) == date(2026, 3, 1)
    assert period_start("day", date(2026, 3, 17)) == date(2026, 3, 17)
    with pytest.raises(BudgetError):
        budget_key("user:has space", "day")
    with pytest.raises(BudgetError):
        budget_key("everyone", "day")
    with pytest.raises(BudgetError):
        budget_key("user:a.b", "day")


async def test_spent_raise_and_malformed(bus: Bus, caplog: pytest.LogCaptureFixture) -> None:
    store = await BudgetStore.open(bus)
    usage = await bus.kv(USAGE)
    for day, tokens, cost in (("2026-03-01", 100, 0.5), ("2026-03-02", 50, None), ("2026-02-28", 999, 9.0)):
        total = UsageTotal(key="x", calls=1, input_tokens=tokens, output_tokens=1, cost=cost,
                           unpriced_calls=int(cost is None))  # fmt: skip
        await usage.put(f"{day}.twin.t1", total.model_dump_json().encode())
    await store.put("twin:t1", BudgetWrite(period="month", tokens=1000, ceiling_tokens=5000), by="root")
    await store.put("twin:t1", BudgetWrite(period="day", money=1.0), by="root")
    month = await store.get("twin:t1", "month")
    assert month is not None
    status = await store.status(month, today=date(2026, 3, 2))
    assert (status.spent_tokens, status.spent_money, status.unpriced_calls) == (152, 0.5, 1)
    daily = await store.get("twin:t1", "day")
    assert daily is not None
    assert (await store.status(daily, today=date(2026, 3, 2))).spent_money is None  # only an unpriced call

    raised = await store.raise_limit("twin:t1", "month", "tokens", 2000, by="alice")
    assert (raised.tokens, raised.updated_by) == (2000, "alice")
    assert (await store.raise_limit("twin:t1", "month", "tokens", 1500, by="bob")).tokens == 2000
    with pytest.raises(BudgetError, match="ceiling"):
        await store.raise_limit("twin:t1", "month", "tokens", 6000, by="alice")
    with pytest.raises(BudgetError, match="no day budget"):
        await store.raise_limit("twin:other", "day", "tokens", 6000, by="alice")

    await (await bus.kv(BUDGETS)).put("user.mallory.day", b'{"period": "day", "tokens": -3}')
    with caplog.at_level(logging.ERROR, logger="records.budgets"):
        assert await store.get("user:mallory", "day") is None
        assert [b.scope for b in await store.all()] == ["twin:t1", "twin:t1"]
    assert "user.mallory.day" in caplog.text and "malformed" in caplog.text
    assert await store.delete("twin:t1", "day") is True
    assert await store.delete("twin:t1", "day") is False
    assert [s.period for s in await store.statuses(["twin:t1", "user:mallory", "user:a.b"])] == ["month"]


async def test_the_gate_s_lookup_from_memory_follows_writes_and_deletes(bus: Bus) -> None:
    store = await BudgetStore.open(bus)
    await store.put("twin:t2", BudgetWrite(period="day", tokens=100), by="root")
    mirror = store.mirrored()
    stopping = asyncio.Event()
    following = asyncio.create_task(mirror.run(stopping))
    try:
        await eventually(lambda: mirror.ready, what="the budgets mirror caught up")
        [found] = await store.of_scopes(["global", "twin:t2"])
        assert found.scope == "twin:t2" and found.tokens == 100
        writer = await BudgetStore.open(bus)  # another process's write reaches the mirror by the watch
        await writer.put("global", BudgetWrite(period="month", tokens=5000), by="root")

        async def scopes() -> list[str]:
            return sorted(b.scope for b in await store.of_scopes(["global", "twin:t2"]))

        await eventually(lambda: _is(scopes(), ["global", "twin:t2"]), what="the new global budget")
        await writer.delete("twin:t2", "day")
        await eventually(lambda: _is(scopes(), ["global"]), what="the deleted budget gone")
        await store.kv.put(budget_key("user:u9", "day"), b"{not json")  # malformed: left out, logged
        await eventually(lambda: mirror.get(budget_key("user:u9", "day")) is not None)
        assert [b.scope for b in await store.of_scopes(["user:u9", "global"])] == ["global"]
    finally:
        stopping.set()
        await asyncio.wait_for(following, 5)


async def _is(found: Awaitable[list[str]], expected: list[str]) -> bool:
    return await found == expected
