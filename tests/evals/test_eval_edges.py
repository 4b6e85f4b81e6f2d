"""Evals at their edges: native tool calls replayed and kept, a case that takes too long, a gate
naming another twin's set."""

from __future__ import annotations

import asyncio

import aiohttp

from bus_schemas import new_id
from bus_schemas.evals import EvalCheck, EvalRun
from bus_schemas.streams import EVAL_REPLIES, TOOLS
from pagi.bus import Bus, PullConsumer
from planner.evals.runner import EvalRunner
from records.prices import PriceTable
from records.prompts import PromptStore
from records.tools import ToolRegistry
from records.twins import TwinStore

from ..fake_llm import Call, FakeLLMServer, Reply
from .conftest import RunEval, Say, answer, deny_pending, llm_twin, make_set
from .test_eval_gate import evaluated, gated_twin, improve


async def test_native_tool_calls_are_replayed_and_a_changed_prompts_calls_kept(
    bus: Bus,
    planner: list[PullConsumer],
    twins: TwinStore,
    fake_llm: FakeLLMServer,
    say_and_finish: Say,
    run_eval: RunEval,
    session_id: str,
) -> None:
    twin_id = await llm_twin(twins, fake_llm, native=True)
    fake_llm.script(
        Reply("Let me look.", tool_calls=[Call("command_exec", {"cmd": "ls"}, id="call_1")]),
        Reply("I may not look."),
    )
    task = asyncio.ensure_future(say_and_finish("what is here?", twin_id))
    await deny_pending(bus, session_id)
    job = await task
    assert [s.action_type for s in job.steps] == ["ActionTool", "ActionResponse"]
    await make_set(
        bus, "native", twin_id, session_id,
        EvalCheck(kind="must_call", value="command_exec"), EvalCheck(kind="regex", value="may not"),
    )  # fmt: skip
    asked = len(fake_llm.requests)

    same = await run_eval("native", baseline=False)
    assert same.cases[0].passed and (same.llm_calls, same.replayed_calls) == (0, 2)
    assert len(fake_llm.requests) == asked

    fake_llm.script(
        Reply(tool_calls=[Call("command_exec", {"cmd": "ls -la"}, id="call_9")]), Reply("Still not allowed.")
    )
    changed = await run_eval("native", prompt="Look harder.", baseline=False)
    [case] = changed.cases
    assert case.actions == ["command_exec", "ActionResponse"] and case.llm_calls == 2 and not case.passed
    assert len(fake_llm.requests) == asked + 2
    # The new call was never run: the model was told so, as a tool result.
    assert "(not run in an eval)" in str(fake_llm.requests[-1].body["messages"])
    again = await run_eval("native", prompt="Look harder.", baseline=False)
    assert again.cases[0].actions == case.actions and (again.llm_calls, again.replayed_calls) == (0, 2)
    assert len(fake_llm.requests) == asked + 2


async def test_a_case_that_takes_too_long_fails_saying_so(
    bus: Bus,
    planner: list[PullConsumer],
    twins: TwinStore,
    fake_llm: FakeLLMServer,
    say_and_finish: Say,
    session_id: str,
) -> None:
    twin_id = await llm_twin(twins, fake_llm)
    fake_llm.script(Reply(answer("It is 4.")))
    await say_and_finish("what is 2+2?", twin_id)
    await make_set(bus, "slow", twin_id, session_id, EvalCheck(kind="regex", value="4"))
    fake_llm.script(Reply(answer("4"), delay_s=5))
    async with aiohttp.ClientSession() as http:
        runner = await EvalRunner.open(
            bus, twins, await PromptStore.open(bus), ToolRegistry(await bus.kv(TOOLS)), None, http,
            {"PAGI_LLM_ALLOW_PRIVATE": "1"}, await bus.kv(EVAL_REPLIES), await PriceTable.open(bus),
        )  # fmt: skip
        runner.case_timeout_s = 0.3
        run = EvalRun(run_id=new_id()[:16], set_id="slow", prompt="Think slowly.", requested_by="tester")
        result = await runner.run(run, session_id, None)
    [case] = result.cases
    assert result.state == "done" and not case.passed and case.error == "timed out after 0.3 s"
    assert result.pass_rate == 0.0


async def test_a_gate_naming_another_twins_set_denies_the_proposal(
    bus: Bus,
    planner: list[PullConsumer],
    twins: TwinStore,
    fake_llm: FakeLLMServer,
    say_and_finish: Say,
    session_id: str,
) -> None:
    owner = await llm_twin(twins, fake_llm)
    fake_llm.script(Reply(answer("It is 4.")))
    await say_and_finish("what is 2+2?", owner)
    await make_set(bus, "owners", owner, session_id, EvalCheck(kind="regex", value="4"))
    gated = await gated_twin(twins, fake_llm, "owners", 0.5)
    fake_llm.script(Reply(improve()), Reply(answer("Kept.")))
    await say_and_finish("improve yourself", gated)
    record = await evaluated(bus, session_id)
    assert record.eval is not None and (record.eval.state, record.eval.ok) == ("failed", False)
    assert f"eval set 'owners' is of twin '{owner}', not '{gated}'" in (record.eval.error or "")
    assert record.state == "denied" and record.decided_by == "eval-gate"
