"""Choosing the next action: the twin's LLM when one is configured, else the deterministic planner.
A job's first step from a slash command (`/tool NAME {args}`, `/memory QUERY`, ...) is the command as
typed, whoever would decide the rest: the person chose the action, not the model.

With native tool calling (the preset's `tool_calling`) a reply may make several calls: the first is
this step's action, and each further one is the next step's, taken from the recorded reply without
asking the model again, so each call is judged, approved, run and observed on its own; the model is
asked again once every call has its result.

Before a model is called, the budgets the call counts against are checked (planner/budget.py): over
one, the step is a budget approval or, over a hard ceiling, the job's answer, and no model is called.

A provider failure or a reply that stays invalid after one repair falls back to the deterministic
planner, with a note the job log shows. A base URL the endpoint rules refuse (records.endpoints:
internal addresses unless the operator allows them) ends the job instead, before any request.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Final

import aiohttp

from bus_schemas.jobs import JobRecord
from bus_schemas.twin import Twin
from pagi.secrets import SecretsUnavailable, unseal
from records.endpoints import EndpointPolicy, EndpointRefused, check_base_url

from . import deterministic
from .budget import BudgetGate
from .context import ContextBuilder
from .decision import Decision, ReplayGap
from .llm import LLMConfigError, LLMError, ProviderConfig, config_for, llm_decide, make_provider
from .llm import provider_config_from_env as env_config
from .llm.decide_tools import llm_decide_tools
from .llm.reply import InvalidReply
from .llm.tools import action_from_raw, parse_raw
from .loop import ChunkSink
from .usage import Stopwatch, UsageRecorder, prompt_text

log = logging.getLogger("planner.decider")


class EndpointStop(ReplayGap):
    """The twin's base URL is refused: the loop ends the job, as it does a replay gap, with this text
    as the reason (no deterministic fallback, no request, so nothing from that address is shown)."""


class Decider:
    def __init__(
        self,
        context: ContextBuilder,
        http: aiohttp.ClientSession,
        env: Mapping[str, str] | None = None,
        usage: UsageRecorder | None = None,
        budget: BudgetGate | None = None,
    ) -> None:
        self.context = context
        self.http = http
        self.usage = usage  # one usage.llm event per call (planner/usage.py)
        self.budget = budget  # checked before every call (planner/budget.py); None: no budgets
        # The provider keys and the operator's endpoint allowances (tests pass their own mapping).
        self.env: Mapping[str, str] = os.environ if env is None else env

    def config(self, twin: Twin) -> ProviderConfig | None:
        """The twin's own provider, else the environment's default; None means deterministic."""
        if twin.provider in (None, ""):
            return env_config(self.env)
        if twin.provider == "mock":
            return None
        api_key = unseal(twin.api_key_sealed) if twin.api_key_sealed else None
        return config_for(
            twin.provider,
            model=twin.model,
            api_key=api_key,
            base_url=twin.base_url,
            env=self.env,
            temperature=twin.temperature,
        )

    async def __call__(self, job: JobRecord, twin: Twin, on_chunk: ChunkSink) -> Decision:
        if job.replay is not None and not job.replay.live:
            return recorded_decision(job)
        if (following := next_call(job)) is not None:
            return following
        if (reading := deterministic.read_next_attachment(job)) is not None:
            return reading
        if deterministic.ingest_target(job.message) is not None:
            # An upload: the person chose every step (read, store, report); no model is asked.
            return deterministic.decide(job.message, twin.id, job.steps)
        try:
            config = self.config(twin)
        except (LLMConfigError, SecretsUnavailable) as exc:
            return _fallback(job, twin, f"LLM not usable for {twin.id}: {exc}; the deterministic planner decided")
        if config is None:
            return deterministic.decide(job.message, twin.id, job.steps)
        if not job.steps and (command := deterministic.explicit_command(job.message)) is not None:
            return command
        try:
            # Again here, not only when the twin was written: a name may resolve elsewhere by now.
            await check_base_url(config.base_url, EndpointPolicy.from_env(self.env))
        except EndpointRefused as exc:
            log.warning("LLM endpoint refused for job %s: %s", job.job_id, exc)
            raise EndpointStop(f"LLM not called for {twin.id}: {exc}") from None
        allowed = allowed_actions(twin)
        provider = make_provider(config, self.http)
        if config.tool_calling:
            messages = await self.context.messages(job, twin, native_tools=True)
            tools = await self.context.tool_specs(twin, allowed)
        else:
            messages, tools = await self.context.messages(job, twin), []
        prompt = prompt_text(messages, tools)
        if self.budget is not None and (instead := await self.budget.check(job, twin, config, prompt)) is not None:
            return instead
        clock = Stopwatch()
        try:
            if config.tool_calling:
                decision = await llm_decide_tools(provider, messages, tools, on_chunk, allowed_actions=allowed)
            else:
                decision = await llm_decide(provider, messages, on_chunk, allowed_actions=allowed)
        except LLMError as exc:
            log.warning("LLM failed for job %s: %s", job.job_id, exc)
            return _fallback(job, twin, f"{exc}; the deterministic planner decided instead")
        if self.usage is not None:
            await self.usage.record(job, config, decision, prompt, clock.ms())
        if decision.repair_reason:
            note = f"the LLM's first reply was invalid ({decision.repair_reason}); its repaired reply was used"
            return Decision(decision.action, decision.raw, decision.decided_by, note)
        return decision


def recorded_decision(job: JobRecord) -> Decision:
    """Step N of a rerun: the recorded decision, no provider call. An LLM's raw reply goes through
    today's parser and schema again, so a change there shows up as a divergence."""
    assert job.replay is not None
    step = len(job.steps) + 1
    recorded = next((d for d in job.replay.decisions if d.step == step), None)
    if recorded is None:
        raise ReplayGap(f"replay: no recorded decision for step {step}")
    action = recorded.action
    if recorded.decided_by.startswith("llm:"):
        try:
            action = action_from_raw(recorded.raw_decision)
        except InvalidReply as exc:
            raise ReplayGap(f"replay: the recorded reply of step {step} no longer parses: {exc}") from exc
    return Decision(action, recorded.raw_decision, f"replay:{recorded.decided_by}")


def next_call(job: JobRecord) -> Decision | None:
    """The next call of the last step's reply, once that step has its result (None: ask anew)."""
    last = job.steps[-1] if job.steps else None
    if last is None or last.observation is None or not last.decided_by.startswith(("llm:", "replay:llm:")):
        return None
    recorded = parse_raw(last.raw)
    if recorded is None or recorded.index + 1 >= len(recorded.calls):
        return None
    raw = recorded.at(recorded.index + 1)
    try:
        action = action_from_raw(raw)
    except InvalidReply as exc:  # checked when the reply came; only a changed parser gets here
        raise ReplayGap(f"call {recorded.index + 2} of the reply of step {last.step} no longer parses: {exc}") from exc
    return Decision(action, raw, last.decided_by)


# What a model may decide; documents are read and stored only because a person sent them.
MODEL_ACTIONS: Final = ("ActionResponse", "ActionMemory", "ActionTool", "ActionRemember", "ActionSelfImprove")


def allowed_actions(twin: Twin) -> list[str]:
    """What the model is offered: no tool building for twins with code generation off; asking or
    handing to another twin only for twins whose policy names some (`may_ask`)."""
    offered = [*MODEL_ACTIONS, "ActionBuildTool"] if twin.code_generation else list(MODEL_ACTIONS)
    return [*offered, "ActionAskTwin", "ActionHandoff"] if twin.may_ask else offered


def _fallback(job: JobRecord, twin: Twin, note: str) -> Decision:
    decision = deterministic.decide(job.message, twin.id, job.steps)
    return Decision(decision.action, decision.raw, decision.decided_by, note)
