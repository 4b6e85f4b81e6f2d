"""One case re-run in memory: the planner's own deciding (planner/context.py, planner/llm/*, the
deterministic planner) and the twin's policy (planner.actions.judge), with nothing carried out.

A step the policy asks a person about is taken as approved (and counted); its result, and that of a
step the policy runs at once, is the recorded result of the same action in the case, else NOT_RUN.
A decision is the recorded one while the model would see what the recorded job's model saw (the
prompt the case was recorded with, and the same steps so far); after that the model is asked through
`KeptReplies`. Pinned memories are left out of an eval's prompts: a run judges the prompt, and two
runs of the same set see the same thing. Nothing is published and no job record is written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp

from bus_schemas import ActionResponse
from bus_schemas.evals import EvalCase, RecordedStep
from bus_schemas.jobs import JobRecord, JobStep
from bus_schemas.memory import MemoryRecordOut
from bus_schemas.twin import Twin
from pagi.secrets import SecretsUnavailable
from pagi.stores import KVStore
from records.endpoints import EndpointPolicy, EndpointRefused, check_base_url
from records.prices import PriceTable
from records.tools import McpToolCatalog, ToolRegistry

from .. import deterministic
from ..actions import judge, kind_of
from ..context import NOT_SHOWN, ContextBuilder
from ..decider import Decider, allowed_actions, next_call
from ..decision import Decision
from ..llm import ChatMessage, LLMConfigError, LLMError, llm_decide, make_provider
from ..llm.decide_tools import llm_decide_tools
from ..llm.reply import InvalidReply
from ..llm.tools import action_from_raw, parse_raw
from .checks import Run, Taken
from .replies import KeptReplies, Tally, UsageSink

NOT_RUN = "(not run in an eval)"


class CaseError(Exception):
    """The case could not be re-run (the twin's model is not usable, the model failed): it fails, saying why."""


class EvalContext(ContextBuilder):
    async def pinned_memories(self, job: JobRecord, twin: Twin) -> list[MemoryRecordOut]:
        return []


def shown_steps(case: EvalCase) -> list[RecordedStep]:
    """The recorded steps a model decided among (a budget's approval was the planner's own step)."""
    return [s for s in case.steps if s.action.action_type not in NOT_SHOWN]


def same_so_far(steps: list[JobStep], recorded: list[RecordedStep]) -> bool:
    if len(steps) >= len(recorded):
        return False
    return all(
        s.action == r.action.model_dump() and s.observation == r.observation
        for s, r in zip(steps, recorded, strict=False)
    )


def recorded_result(case: EvalCase, action: dict[str, object]) -> str:
    for step in case.steps:
        if step.action.model_dump() == action and step.observation is not None:
            return step.observation
    return NOT_RUN


def taken(action_type: str, action: dict[str, object]) -> Taken:
    name = action.get("tool_name") if action_type in ("ActionTool", "ActionBuildTool") else None
    return Taken(action_type, str(name) if name else action_type)


@dataclass
class Simulator:
    tools: ToolRegistry
    mcp_tools: McpToolCatalog | None
    http: aiohttp.ClientSession
    env: Mapping[str, str]
    replies: KVStore
    prices: PriceTable

    def __post_init__(self) -> None:
        # The bus is never used: pinned memories are left out (EvalContext).
        self.context = EvalContext(None, self.tools, self.mcp_tools)  # type: ignore[arg-type]
        self.decider = Decider(self.context, self.http, self.env)

    async def run(
        self, case: EvalCase, twin: Twin, replayable: bool, tally: Tally, usage: UsageSink | None = None
    ) -> Run:
        now = datetime.now(UTC)
        job = JobRecord(
            job_id=case.job_id,
            session_id=case.session_id,
            twin_id=twin.id,
            message=case.message,
            status="running",
            created_at=now,
            updated_at=now,
        )
        history = [ChatMessage(t.role, t.content) for t in case.history]
        run = Run()
        for number in range(1, twin.step_limit + 1):
            decision = await self.decide(job, twin, case, history, replayable, tally, usage)
            action = decision.action
            dump = action.model_dump()
            run.taken.append(taken(action.action_type, dump))
            if isinstance(action, ActionResponse):
                run.answer = action.content
                return run
            verdict = judge(action, twin, await kind_of(action.action_type).tool(action, self.mcp_tools))
            if verdict.outcome == "respond":
                return run
            if verdict.outcome == "deny":
                observation = f"Not done: {verdict.reason} (policy: {verdict.policy})."
            else:
                run.asked_approval = run.asked_approval or verdict.outcome == "ask"
                observation = recorded_result(case, dump)
            step = JobStep(
                step=number,
                trigger_id=f"eval-step-{number}",
                action_type=action.action_type,
                action=dump,
                decided_by=decision.decided_by,
                raw=decision.raw,
                observation=observation,
            )
            job = job.model_copy(update={"steps": [*job.steps, step]})
        run.answer = f"Stopped after {twin.step_limit} steps (the twin's step limit)."
        return run

    async def decide(
        self,
        job: JobRecord,
        twin: Twin,
        case: EvalCase,
        history: list[ChatMessage],
        replayable: bool,
        tally: Tally,
        usage: UsageSink | None = None,
    ) -> Decision:
        if (following := next_call(job)) is not None:
            return following
        try:
            config = self.decider.config(twin)
        except (LLMConfigError, SecretsUnavailable) as exc:
            raise CaseError(f"LLM not usable for {twin.id}: {exc}") from None
        if config is None:
            return deterministic.decide(job.message, twin.id, job.steps)
        if not job.steps and (command := deterministic.explicit_command(job.message)) is not None:
            return command
        recorded = shown_steps(case)
        if replayable and same_so_far(job.steps, recorded):
            replayed = self._replayed(recorded[len(job.steps)], tally)
            if replayed is not None:
                return replayed
        try:
            await check_base_url(config.base_url, EndpointPolicy.from_env(self.env))
        except EndpointRefused as exc:
            raise CaseError(f"LLM not called for {twin.id}: {exc}") from None
        allowed = allowed_actions(twin)
        provider = KeptReplies(make_provider(config, self.http), self.replies, self.prices, tally, usage)
        try:
            if config.tool_calling:
                messages = await self.context.messages(job, twin, native_tools=True, history=history)
                specs = await self.context.tool_specs(twin, allowed)
                return await llm_decide_tools(provider, messages, specs, None, allowed_actions=allowed)
            messages = await self.context.messages(job, twin, history=history)
            return await llm_decide(provider, messages, None, allowed_actions=allowed)
        except LLMError as exc:
            raise CaseError(f"the model failed: {exc}") from None

    @staticmethod
    def _replayed(step: RecordedStep, tally: Tally) -> Decision | None:
        """The recorded decision; an LLM's reply read through today's parser (None: it no longer parses)."""
        if not step.decided_by.startswith(("llm:", "replay:llm:")):
            return Decision(step.action, step.raw or json.dumps({"rule": "recorded"}), step.decided_by)
        try:
            action = action_from_raw(step.raw)
        except InvalidReply:
            return None
        recorded = parse_raw(step.raw)
        if recorded is None or recorded.index == 0:
            tally.replayed_calls += 1  # a reply's later calls came with its first
        return Decision(action, step.raw, step.decided_by)
