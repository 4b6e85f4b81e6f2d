"""`pagi usage`: what the twins cost, from the usage ledger's totals (KV USAGE) over the bus.

    pagi usage [--by twin|user|session|model] [--since DATE|UNIX] [--until DATE|UNIX] [--json]
    pagi usage prices                                   the price table (USD per million tokens)
    pagi usage prices set PROVIDER MODEL IN OUT         the operator's price for one model

It reads with the bus credentials `pagi up` wrote (the operator's): every user's usage.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from typing import Any

from bus_schemas.streams import USAGE
from bus_schemas.usage import USAGE_GROUPINGS, Price, UsageGrouping, UsageReport, UsageTotal
from pagi.bus import Bus, BusUnavailable
from records.prices import PriceTable
from records.usage import parse_bound, report

from .options import add_bus_options, bus_url


def add_commands(commands: Any) -> None:
    usage_cmd = commands.add_parser("usage", help="tokens, cost and run time per twin, user, session or model")
    usage_cmd.add_argument("--by", choices=USAGE_GROUPINGS, default="twin", help="how totals are grouped")
    usage_cmd.add_argument("--since", help="first day: an ISO date or unix seconds (default: 30 days ago)")
    usage_cmd.add_argument("--until", help="last day: an ISO date or unix seconds (default: today)")
    usage_cmd.add_argument("--json", action="store_true", help="the report as JSON (GET /v1/usage's shape)")
    add_bus_options(usage_cmd)
    usage_cmd.set_defaults(run=run)
    sub = usage_cmd.add_subparsers(dest="usage_command")
    prices_cmd = sub.add_parser("prices", help="the price table")
    add_bus_options(prices_cmd)
    prices_cmd.set_defaults(run=run_prices, price=None)
    set_cmd = prices_cmd.add_subparsers(dest="prices_command").add_parser("set", help="set one model's price")
    set_cmd.add_argument("provider")
    set_cmd.add_argument("model")
    set_cmd.add_argument("input_per_million", type=float, metavar="IN", help="USD per million input tokens")
    set_cmd.add_argument("output_per_million", type=float, metavar="OUT", help="USD per million output tokens")
    add_bus_options(set_cmd)
    set_cmd.set_defaults(run=run_prices, price=True)


def money(cost: float | None) -> str:
    return "unknown" if cost is None else f"${cost:.4f}"


def _row(t: UsageTotal) -> str:
    unpriced = f" ({t.unpriced_calls} unpriced)" if t.unpriced_calls and t.cost is not None else ""
    estimated = f" ({t.estimated_calls} estimated)" if t.estimated_calls else ""
    cpu = f" (cpu {t.run_cpu_ms / 1000:.1f}s)" if t.cpu_measured_runs else ""
    runs = f"  runs {t.run_wall_ms / 1000:.1f}s{cpu}" if t.run_wall_ms else ""
    return (
        f"{t.key:<40} {t.calls:>6} calls{estimated}  in {t.input_tokens:>9}  out {t.output_tokens:>9}"
        f"  {money(t.cost)}{unpriced}{runs}"
    )


def render(answer: UsageReport) -> str:
    lines = [f"total  {_row(answer.total)}", "", f"by {answer.by}:"]
    lines += [f"  {_row(g)}" for g in answer.groups] or ["  (nothing yet)"]
    lines += ["", "per day:"]
    lines += [
        f"  {d.day.isoformat()}  in {d.input_tokens:>9}  out {d.output_tokens:>9}  {money(d.cost)}"
        for d in answer.days
        if d.input_tokens or d.output_tokens
    ] or ["  (nothing yet)"]
    lines += ["", "most expensive sessions:"]
    lines += [f"  {_row(t)}" for t in answer.top_sessions] or ["  (nothing yet)"]
    return "\n".join(lines) + "\n"


def _on_bus(args: argparse.Namespace, name: str, work: Any) -> int:
    async def main() -> int:
        bus = await Bus.connect(bus_url(args), name, connect_timeout_s=args.connect_timeout)
        try:
            return int(await work(bus))
        finally:
            await bus.close()

    try:
        return asyncio.run(main())
    except BusUnavailable as exc:
        print(f"pagi usage: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"pagi usage: {exc}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace) -> int:
    async def work(bus: Bus) -> int:
        by: UsageGrouping = args.by
        answer = await report(await bus.kv(USAGE), by, parse_bound(args.since), parse_bound(args.until))
        sys.stdout.write(answer.model_dump_json(indent=2) + "\n" if args.json else render(answer))
        return 0

    return _on_bus(args, "pagi-usage", work)


def run_prices(args: argparse.Namespace) -> int:
    async def work(bus: Bus) -> int:
        table = await PriceTable.open(bus)
        if args.price:
            price = Price(
                provider=args.provider,
                model=args.model,
                input_per_million=args.input_per_million,
                output_per_million=args.output_per_million,
                as_of=datetime.now(UTC).date(),
            )
            await table.put(price)
        for p in await table.all():
            sys.stdout.write(
                f"{p.provider:<12} {p.model:<28} in ${p.input_per_million:>8.3f}  out ${p.output_per_million:>8.3f}"
                f"  per million tokens, as of {p.as_of.isoformat()}\n"
            )
        return 0

    return _on_bus(args, "pagi-usage", work)
