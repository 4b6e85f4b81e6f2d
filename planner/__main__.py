"""`python -m planner`: decides every job step, asks for approvals, drives jobs to their answer."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence

import aiohttp

from bus_schemas.jobs import JobRecord
from bus_schemas.streams import (
    EVAL_REPLIES,
    PLANNER_CHAT_IN,
    PLANNER_CONTROL,
    PLANNER_EVAL_GATE,
    PLANNER_EVALS,
    PLANNER_RESULTS,
    USAGE,
    USAGE_LEDGER,
)
from bus_schemas.twin import Twin
from pagi.bus import Bus
from pagi.service import Route, run_service
from pagi.stores import KVMirror
from records.budgets import BudgetStore
from records.bundle import Records, open_records
from records.prices import PriceTable
from records.schedules import ScheduleStore
from records.sessions import SESSION_TWIN_KEYS, SessionTwins

from . import deterministic
from .budget import BudgetGate
from .chat_in import ChatInHandler
from .context import ContextBuilder
from .control import ControlHandler
from .decider import Decider
from .decision import Decision
from .evals.gate import EvalGateHandler
from .evals.runner import EvalRunner
from .ledger import LedgerHandler
from .llm.guard import guarded_session
from .loop import ChunkSink, Decide, Planner
from .results import ResultHandler
from .schedules import ScheduleFirings
from .settings import PlannerSettings
from .sweeper import Sweeper
from .usage import PRICE_CACHE_S, UsageRecorder


async def build_planner(bus: Bus, settings: PlannerSettings, decide: Decide | None = None) -> Planner:
    return planner_over(bus, await open_records(bus), decide)


def planner_over(
    bus: Bus,
    records: Records,
    decide: Decide | None = None,
    budgets: BudgetStore | None = None,
    session_twins: SessionTwins | None = None,
) -> Planner:
    return Planner(
        bus=bus,
        jobs=records.jobs,
        approvals=records.approvals,
        twins=records.twins,
        prompts=records.prompts,
        decide=decide or deterministic_decide,
        mcp_tools=records.mcp_tools,
        budgets=budgets,
        session_twins=session_twins,
    )


async def deterministic_decide(job: JobRecord, twin: Twin, on_chunk: ChunkSink) -> Decision:
    return deterministic.decide(job.message, twin.id, job.steps)


class PlannerService:
    """Routes and the sweeper of one planner process, sharing one Planner."""

    def __init__(self, settings: PlannerSettings | None = None, env: Mapping[str, str] | None = None) -> None:
        self.settings = settings or PlannerSettings()
        self.env = env  # provider keys and endpoint allowances (planner.decider); None: os.environ
        self.sweeper: Sweeper | None = None
        self.firings: ScheduleFirings | None = None
        # Keys read on every message, kept in memory (pagi.stores.KVMirror): budgets, handoffs.
        self.mirrors: list[KVMirror] = []
        self.http: aiohttp.ClientSession | None = None

    async def routes(self, bus: Bus) -> Sequence[Route]:
        self.http = guarded_session(self.env)  # connects only where records.endpoints allows
        records = await open_records(bus)
        context = ContextBuilder(bus, records.tools, records.mcp_tools)
        prices = await PriceTable.open(bus, cache_s=PRICE_CACHE_S)
        usage = UsageRecorder(bus, prices)
        budgets = await BudgetStore.open(bus)
        self.mirrors = [budgets.mirrored()]
        decider = Decider(context, self.http, self.env, usage, BudgetGate(bus, budgets, prices))
        # Every chat.in looks up its session's handoff: from memory, kept in step by a watch.
        handoffs = KVMirror(records.jobs.kv, SESSION_TWIN_KEYS)
        self.mirrors.append(handoffs)
        for mirror in self.mirrors:
            bus.on_reconnect(mirror.start_over)
        planner = planner_over(bus, records, decider, budgets, SessionTwins(records.jobs.kv, handoffs))
        control = ControlHandler(planner)
        self.sweeper = Sweeper(planner, control, self.settings)
        chat_in = ChatInHandler(planner)
        self.firings = ScheduleFirings(bus, await ScheduleStore.open(bus), records.jobs, chat_in)
        return [
            Route(PLANNER_CHAT_IN, chat_in, max_in_flight=128),
            Route(PLANNER_CONTROL, control, max_in_flight=32),
            Route(PLANNER_RESULTS, ResultHandler(planner), max_in_flight=64),
            # One at a time, in stream order (USAGE_LEDGER's max_ack_pending): each total's `seq` check.
            Route(USAGE_LEDGER, LedgerHandler(await bus.kv(USAGE), records.jobs), max_in_flight=1),
            *await self.eval_routes(bus, records),
        ]

    async def eval_routes(self, bus: Bus, records: Records) -> list[Route]:
        """eval.run (a set re-run in memory) and the eval gate on self-improve approvals."""
        assert self.http is not None
        env = self.env if self.env is not None else os.environ
        replies = await bus.kv(EVAL_REPLIES)
        prices = await PriceTable.open(bus, cache_s=PRICE_CACHE_S)
        runner = await EvalRunner.open(
            bus, records.twins, records.prompts, records.tools, records.mcp_tools, self.http, env, replies, prices
        )
        gate = EvalGateHandler(bus, records.approvals, records.twins, runner)
        return [Route(PLANNER_EVALS, runner, max_in_flight=2), Route(PLANNER_EVAL_GATE, gate, max_in_flight=16)]

    async def background(self, bus: Bus, stopping: asyncio.Event) -> None:
        assert self.sweeper is not None and self.firings is not None
        try:
            await asyncio.gather(
                self.sweeper.run(bus, stopping), self.firings.run(stopping), *(m.run(stopping) for m in self.mirrors)
            )
        finally:
            await self.close()

    async def close(self) -> None:
        if self.http is not None:
            await self.http.close()


if __name__ == "__main__":
    service = PlannerService()
    run_service("planner", service.routes, service.background)
