"""`pagi budget`: the spending limits per install, user and twin (KV BUDGETS, records/budgets.py).

    pagi budget list [--json]                          every budget, with what its period has spent
    pagi budget set SCOPE --period day|month [--tokens N] [--money USD] [--ceiling-tokens N] [--ceiling-money USD]
    pagi budget rm SCOPE --period day|month

SCOPE is `global`, `user:<id>` or `twin:<id>`. A limit asks for approval past it; a ceiling is the hard
limit no approval passes. It runs with the bus credentials `pagi up` wrote (the operator's), as an
admin's `PUT /v1/budgets/{scope}` would.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

from pydantic import ValidationError

from bus_schemas.budgets import BUDGET_PERIODS, BudgetList, BudgetStatus, BudgetWrite
from pagi.bus import Bus
from records.budgets import BudgetError, BudgetStore, check_scope

from .options import add_bus_options, bus_unreachable, connect_bus
from .usage import money

SCOPE_HELP = "global, user:<id> or twin:<id>"


def add_commands(commands: Any) -> None:
    budget_cmd = commands.add_parser("budget", help="token and money budgets per install, user and twin")
    sub = budget_cmd.add_subparsers(dest="budget_command", required=True)
    list_cmd = sub.add_parser("list", help="every budget, with what its period has spent")
    list_cmd.add_argument("--json", action="store_true", help="as JSON (GET /v1/budgets's shape)")
    add_bus_options(list_cmd)
    list_cmd.set_defaults(run=run_list)
    set_cmd = sub.add_parser("set", help="set (replace) a scope's budget for a period")
    set_cmd.add_argument("scope", help=SCOPE_HELP)
    set_cmd.add_argument("--period", choices=BUDGET_PERIODS, required=True)
    set_cmd.add_argument("--tokens", type=int, help="ask for approval past this many tokens (input + output)")
    set_cmd.add_argument("--money", type=float, help="ask for approval past this much money (USD, priced calls)")
    set_cmd.add_argument("--ceiling-tokens", type=int, help="the hard limit in tokens: no approval passes it")
    set_cmd.add_argument("--ceiling-money", type=float, help="the hard limit in USD: no approval passes it")
    add_bus_options(set_cmd)
    set_cmd.set_defaults(run=run_set)
    rm_cmd = sub.add_parser("rm", help="remove a scope's budget for a period")
    rm_cmd.add_argument("scope", help=SCOPE_HELP)
    rm_cmd.add_argument("--period", choices=BUDGET_PERIODS, required=True)
    add_bus_options(rm_cmd)
    rm_cmd.set_defaults(run=run_rm)


def _amount(value: float, unit: str) -> str:
    return money(value) if unit == "money" else f"{int(value)} tokens"


def _limit(value: float | None, ceiling: float | None, unit: str) -> str:
    if value is None and ceiling is None:
        return ""
    limit = _amount(value, unit) if value is not None else f"no {unit} limit"
    return limit + (f" (ceiling {_amount(ceiling, unit)})" if ceiling is not None else "")


def render(status: BudgetStatus) -> str:
    limits = [
        part
        for part in (
            _limit(status.tokens, status.ceiling_tokens, "tokens"),
            _limit(status.money, status.ceiling_money, "money"),
        )
        if part
    ]
    unpriced = f" ({status.unpriced_calls} unpriced calls)" if status.unpriced_calls else ""
    return (
        f"{status.scope:<28} {status.period:<5} since {status.period_start.isoformat()}  "
        f"spent {status.spent_tokens} tokens, {money(status.spent_money)}{unpriced}  of {'; '.join(limits)}"
    )


def _who() -> str:
    try:
        return f"{getpass.getuser()} (pagi budget)"
    except (KeyError, OSError):  # no login name (a container's numeric user)
        return "pagi budget"


async def _on_bus(args: argparse.Namespace, what: str, work: Callable[[BudgetStore, TextIO], Awaitable[int]]) -> int:
    try:
        bus: Bus = await connect_bus(args, f"pagi-budget-{what}")
    except Exception as exc:
        sys.stderr.write(f"pagi budget {what}: {bus_unreachable(args, exc)}\n")
        return 1
    try:
        return await work(await BudgetStore.open(bus), sys.stdout)
    except BudgetError as exc:
        sys.stderr.write(f"pagi budget {what}: {exc}\n")
        return 2
    finally:
        await bus.close()


def run_list(args: argparse.Namespace) -> int:
    async def work(store: BudgetStore, out: TextIO) -> int:
        statuses = await store.statuses()
        if args.json:
            out.write(BudgetList(budgets=statuses).model_dump_json(indent=2) + "\n")
        else:
            out.write("".join(render(s) + "\n" for s in statuses) or "no budgets (pagi budget set SCOPE ...)\n")
        return 0

    return asyncio.run(_on_bus(args, "list", work))


def run_set(args: argparse.Namespace) -> int:
    try:
        check_scope(args.scope)
        write = BudgetWrite(
            period=args.period,
            tokens=args.tokens,
            money=args.money,
            ceiling_tokens=args.ceiling_tokens,
            ceiling_money=args.ceiling_money,
        )
    except BudgetError as exc:
        sys.stderr.write(f"pagi budget set: {exc}\n")
        return 2
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'budget'}: {e['msg']}" for e in exc.errors())
        sys.stderr.write(f"pagi budget set: {problems}\n")
        return 2

    async def work(store: BudgetStore, out: TextIO) -> int:
        budget = await store.put(args.scope, write, _who())
        out.write(render(await store.status(budget)) + "\n")
        return 0

    return asyncio.run(_on_bus(args, "set", work))


def run_rm(args: argparse.Namespace) -> int:
    async def work(store: BudgetStore, out: TextIO) -> int:
        if not await store.delete(check_scope(args.scope), args.period):
            sys.stderr.write(f"pagi budget rm: no {args.period} budget of {args.scope}\n")
            return 1
        out.write(f"removed the {args.period} budget of {args.scope}\n")
        return 0

    return asyncio.run(_on_bus(args, "rm", work))
