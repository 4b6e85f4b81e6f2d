"""eval.run.<session>: re-run an eval set's cases with a prompt version, and answer eval.result.<session>.

The set names its twin and that twin is the one used (a run that names another twin is refused).
Each case runs in memory (planner/evals/simulate.py) within `case_timeout_s`; with `baseline` the
twin's current prompt is run too, for the diff. A model call a run makes is a usage.llm event of the
run's session, counted by the usage ledger like any other (a run is not held back by a budget). The
result is kept (KV `pagi_evals`) and published with an id derived from the run, so a redelivered
run republishes the kept result instead of running again. A run that cannot start (unknown set,
twin or prompt version) answers state "failed".
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import aiohttp

from bus_schemas import Envelope, derived_id
from bus_schemas.evals import CaseResult, EvalCase, EvalResult, EvalRun, EvalSet
from bus_schemas.subjects import EVAL_RESULT, USAGE_LLM
from bus_schemas.twin import Twin
from bus_schemas.usage import LlmUsage
from pagi.bus import Bus, Delivery
from pagi.stores import KVStore
from records.evals import EvalStore
from records.prices import PriceTable
from records.prompts import PromptStore
from records.tools import McpToolCatalog, ToolRegistry
from records.twins import TwinError, TwinStore

from ..llm import LLMConfigError, LLMProvider, config_for, make_provider
from .checks import check_all, grader_spec, passed
from .replies import KeptReplies, Tally, UsageSink
from .simulate import CaseError, Simulator

log = logging.getLogger("planner.evals")

CASE_TIMEOUT_S: Final = 60.0
# Cases re-run at once (each mostly waits for KV reads or a model).
PARALLEL_CASES: Final = 8


class RunRefused(Exception):
    """The run cannot start; the message is the result's error."""


@dataclass(frozen=True)
class Candidate:
    """The prompt a run judges: its text and version (None: not a version yet)."""

    prompt: str
    version: int | None


def result_id(run: EvalRun) -> str:
    return derived_id(f"{run.set_id}.{run.run_id}", "eval-result")


class EvalRunner:
    def __init__(
        self,
        bus: Bus,
        evals: EvalStore,
        twins: TwinStore,
        prompts: PromptStore,
        simulator: Simulator,
        grader: LLMProvider | None = None,
        case_timeout_s: float = CASE_TIMEOUT_S,
    ) -> None:
        self.bus = bus
        self.evals = evals
        self.twins = twins
        self.prompts = prompts
        self.simulator = simulator
        self.grader = grader
        self.case_timeout_s = case_timeout_s

    @classmethod
    async def open(
        cls,
        bus: Bus,
        twins: TwinStore,
        prompts: PromptStore,
        tools: ToolRegistry,
        mcp_tools: McpToolCatalog | None,
        http: aiohttp.ClientSession,
        env: Mapping[str, str],
        replies: KVStore,
        prices: PriceTable,
    ) -> EvalRunner:
        simulator = Simulator(tools, mcp_tools, http, env, replies, prices)
        return cls(bus, await EvalStore.open(bus), twins, prompts, simulator, grader_from_env(http, env))

    async def __call__(self, event: Envelope[Any], delivery: Delivery) -> None:
        await self.run(event.body, event.session_id, event.twin_id, event.id)

    async def run(self, run: EvalRun, session_id: str, twin_id: str | None, cause: str | None = None) -> EvalResult:
        """Run (or find the kept result of) `run`, publish the result and return it."""
        kept = await self.evals.result(run.set_id, run.run_id)
        if kept is not None and kept.state != "running":
            result = kept
        else:
            started = datetime.now(UTC)
            clock = time.monotonic()
            try:
                result = await self._run(run, session_id, twin_id, started)
            except RunRefused as exc:
                result = EvalResult(
                    run_id=run.run_id,
                    set_id=run.set_id,
                    twin_id=twin_id or "",
                    prompt_version=run.prompt_version,
                    state="failed",
                    error=str(exc)[:2000],
                    approval_id=run.approval_id,
                    started_at=started,
                )
            result = result.model_copy(
                update={"seconds": round(time.monotonic() - clock, 3), "finished_at": datetime.now(UTC)}
            )
            await self.evals.put_result(result)
        answer = Envelope[Any](
            id=result_id(run),
            type=EVAL_RESULT,
            session_id=session_id,
            twin_id=result.twin_id or None,
            causation_id=cause,
            body=result,
        )
        await self.bus.publish(answer)
        return result

    async def _run(self, run: EvalRun, session_id: str, twin_id: str | None, started: datetime) -> EvalResult:
        eval_set = await self.evals.get(run.set_id)
        if eval_set is None:
            raise RunRefused(f"no eval set {run.set_id!r}")
        if twin_id is not None and twin_id != eval_set.twin_id:
            raise RunRefused(f"eval set {run.set_id!r} is of twin {eval_set.twin_id!r}, not {twin_id!r}")
        try:
            twin = await self.twins.get_or_default(eval_set.twin_id)
        except TwinError as exc:
            raise RunRefused(f"eval set {run.set_id!r}: {exc}") from None
        candidate = await self._candidate(run, twin)
        current = Candidate(twin.directive_logic, twin.prompt_version)
        await self.evals.put_result(
            EvalResult(
                run_id=run.run_id,
                set_id=run.set_id,
                twin_id=twin.id,
                prompt_version=candidate.version,
                state="running",
                approval_id=run.approval_id,
                started_at=started,
            )
        )
        sink = self._usage(run, session_id, twin.id)
        cases = await self._cases(eval_set, twin, candidate, sink)
        baseline: list[CaseResult] | None = None
        if run.baseline:
            baseline = cases if candidate == current else await self._cases(eval_set, twin, current, sink)
            cases = [c.model_copy(update={"baseline_passed": b.passed}) for c, b in zip(cases, baseline, strict=True)]
        return summed(
            EvalResult(
                run_id=run.run_id,
                set_id=run.set_id,
                twin_id=twin.id,
                prompt_version=candidate.version,
                cases=cases,
                baseline_version=current.version if baseline is not None else None,
                baseline_pass_rate=rate(baseline) if baseline is not None else None,
                approval_id=run.approval_id,
                started_at=started,
            )
        )

    async def _candidate(self, run: EvalRun, twin: Twin) -> Candidate:
        if run.prompt is not None and run.prompt_version is not None:
            raise RunRefused("a run names a prompt or a prompt version, not both")
        if run.prompt is not None:
            return Candidate(run.prompt, None)
        if run.prompt_version is None or run.prompt_version == twin.prompt_version:
            return Candidate(twin.directive_logic, twin.prompt_version)
        version = await self.prompts.get(twin.id, run.prompt_version)
        if version is None:
            raise RunRefused(f"twin {twin.id!r} has no prompt version {run.prompt_version}")
        return Candidate(version.prompt, version.version)

    def _usage(self, run: EvalRun, session_id: str, twin_id: str) -> UsageSink:
        """A model call of this run, as a usage.llm event of the run's session (by who asked for it;
        the gate's runs by nobody), its id derived from the run and what the model saw."""
        user = None if run.approval_id is not None else run.requested_by

        async def publish(seen: str, used: LlmUsage) -> None:
            body = used.model_copy(update={"twin_id": twin_id, "user_id": user})
            event_id = derived_id(f"{run.set_id}.{run.run_id}:{seen}", "usage-llm")
            await self.bus.publish(
                Envelope[Any](id=event_id, type=USAGE_LLM, session_id=session_id, twin_id=twin_id, body=body)
            )

        return publish

    async def _cases(self, eval_set: EvalSet, twin: Twin, candidate: Candidate, usage: UsageSink) -> list[CaseResult]:
        judged = twin.model_copy(update={"directive_logic": candidate.prompt})
        limit = asyncio.Semaphore(PARALLEL_CASES)

        async def one(case: EvalCase) -> CaseResult:
            async with limit:
                return await self._case(case, judged, await self._replayable(case, twin, candidate), usage)

        return list(await asyncio.gather(*(one(c) for c in eval_set.cases)))

    async def _replayable(self, case: EvalCase, twin: Twin, candidate: Candidate) -> bool:
        """Whether the candidate is the prompt the case was recorded with."""
        if case.prompt_version is None:
            # Recorded before the twin's prompt was ever changed (or before jobs said their version).
            return twin.prompt_version is None and candidate.prompt == twin.directive_logic
        if candidate.version == case.prompt_version:
            return True
        recorded = await self.prompts.get(twin.id, case.prompt_version)
        return recorded is not None and recorded.prompt == candidate.prompt

    async def _case(self, case: EvalCase, twin: Twin, replayable: bool, usage: UsageSink) -> CaseResult:
        tally = Tally()
        try:
            async with asyncio.timeout(self.case_timeout_s):
                done = await self.simulator.run(case, twin, replayable, tally, usage)
                grader = None
                if self.grader is not None:
                    sim = self.simulator
                    grader = KeptReplies(self.grader, sim.replies, sim.prices, tally, usage)
                outcomes = await check_all(case.checks, done, case.message, grader)
        except (CaseError, TimeoutError) as exc:
            error = str(exc) if isinstance(exc, CaseError) else f"timed out after {self.case_timeout_s:g} s"
            return CaseResult(case_id=case.case_id, passed=False, error=error[:2000], **tally_fields(tally))
        return CaseResult(
            case_id=case.case_id,
            passed=passed(outcomes),
            checks=outcomes,
            answer=done.answer,
            actions=[t.name for t in done.taken],
            asked_approval=done.asked_approval,
            **tally_fields(tally),
        )


def tally_fields(tally: Tally) -> dict[str, Any]:
    return {
        "llm_calls": tally.llm_calls,
        "replayed_calls": tally.replayed_calls,
        "input_tokens": tally.input_tokens,
        "output_tokens": tally.output_tokens,
        "cost": tally.cost,
    }


def rate(cases: Sequence[CaseResult]) -> float:
    return sum(1 for c in cases if c.passed) / len(cases) if cases else 0.0


def summed(result: EvalResult) -> EvalResult:
    cases = result.cases
    cost: float | None = 0.0
    for c in cases:
        cost = None if cost is None or c.cost is None else cost + c.cost
    return result.model_copy(
        update={
            "passed": sum(1 for c in cases if c.passed),
            "failed": sum(1 for c in cases if not c.passed),
            "pass_rate": rate(cases),
            "llm_calls": sum(c.llm_calls for c in cases),
            "replayed_calls": sum(c.replayed_calls for c in cases),
            "input_tokens": sum(c.input_tokens for c in cases),
            "output_tokens": sum(c.output_tokens for c in cases),
            "cost": cost,
        }
    )


def grader_from_env(http: aiohttp.ClientSession, env: Mapping[str, str]) -> LLMProvider | None:
    spec = grader_spec(env)
    if spec is None:
        return None
    provider, model, url = spec
    try:
        return make_provider(config_for(provider, model=model, base_url=url, env=env), http)
    except LLMConfigError as exc:
        log.warning("no eval grader: %s", exc)
        return None
