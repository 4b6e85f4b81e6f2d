"""`pagi budget` as a person runs it: a real process over a real nats-server, writing and reading the
same records the edge and the planner read."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime

from bus_schemas.budgets import BudgetList
from bus_schemas.streams import USAGE
from bus_schemas.usage import UsageTotal
from pagi.bus import Bus
from pagi_cli.nats_server import NatsServer
from records.budgets import BudgetStore


def pagi(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pagi_cli", *args], capture_output=True, text=True, timeout=60, check=False
    )


async def run(*args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(pagi, *args)


async def test_pagi_budget_sets_lists_and_removes(bus: Bus, nats_server: NatsServer) -> None:
    url = ("--nats-url", nats_server.url)
    today = datetime.now(UTC).date().isoformat()
    spent = UsageTotal(key="t", calls=3, input_tokens=4000, output_tokens=1000, cost=0.012)
    await (await bus.kv(USAGE)).put(f"{today}.twin.helper", spent.model_dump_json().encode())

    made = await run("budget", "set", "twin:helper", "--period", "day", "--tokens", "10000", *url)
    assert made.returncode == 0, made.stderr
    assert "twin:helper" in made.stdout and "spent 5000 tokens, $0.0120" in made.stdout
    assert "of 10000 tokens" in made.stdout
    money = await run("budget", "set", "global", "--period", "month", "--money", "5", "--ceiling-money", "8", *url)
    assert money.returncode == 0, money.stderr
    stored = await (await BudgetStore.open(bus)).get("global", "month")
    assert stored is not None and stored.money == 5.0 and stored.ceiling_money == 8.0
    assert stored.updated_by.endswith("(pagi budget)")

    listed = await run("budget", "list", *url)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("global") and "$5.0000 (ceiling $8.0000)" in lines[0]
    as_json = BudgetList.model_validate(json.loads((await run("budget", "list", "--json", *url)).stdout))
    assert {(b.scope, b.period, b.spent_tokens) for b in as_json.budgets} == {
        ("global", "month", 0),
        ("twin:helper", "day", 5000),
    }

    removed = await run("budget", "rm", "twin:helper", "--period", "day", *url)
    assert removed.returncode == 0, removed.stderr
    assert await (await BudgetStore.open(bus)).get("twin:helper", "day") is None
    again = await run("budget", "rm", "twin:helper", "--period", "day", *url)
    assert again.returncode == 1 and "no day budget of twin:helper" in again.stderr


async def test_pagi_budget_refuses_what_is_not_a_budget(bus: Bus, nats_server: NatsServer) -> None:
    url = ("--nats-url", nats_server.url)
    for args, says in (
        (("set", "everyone", "--period", "day", "--tokens", "5"), "is not 'global', 'user:<id>' or 'twin:<id>'"),
        (("set", "global", "--period", "day"), "a budget needs tokens, money, ceiling_tokens or ceiling_money"),
        (("set", "global", "--period", "day", "--tokens", "10", "--ceiling-tokens", "5"), "ceiling_tokens is below"),
        (("set", "global", "--period", "day", "--tokens", "0"), "tokens: Input should be greater than or equal to 1"),
        (("rm", "user:a.b", "--period", "day"), "is not 'global'"),
    ):
        refused = await run("budget", *args, *url)
        assert refused.returncode == 2, (args, refused.stdout, refused.stderr)
        assert says in refused.stderr, (args, refused.stderr)
    bad_period = await run("budget", "set", "global", "--period", "week", "--tokens", "5", *url)
    assert bad_period.returncode == 2 and "invalid choice: 'week'" in bad_period.stderr
    assert await (await BudgetStore.open(bus)).all() == []
    away = await run("budget", "list", "--nats-url", "nats://127.0.0.1:1", "--connect-timeout", "0.5")
    assert away.returncode == 1 and "cannot reach the bus" in away.stderr
