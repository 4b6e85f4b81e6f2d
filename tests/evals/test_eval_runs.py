"""Replay-based evals against the real planner and bus: cases captured from real recorded jobs,
re-run in memory with recorded replies, the model asked only where the prompt changed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bus_schemas import Envelope
from bus_schemas.evals import EvalCaseWrite, EvalCheck
from bus_schemas.streams import EVENTS
from bus_schemas.subjects import (
    APPROVE_REQUEST,
    BUILD_REQ,
    MEMORY_QUERY,
    MEMORY_STORE,
    PLAN_ACTION,
    TOOL_RUN,
    USAGE_LLM,
    one_session,
)
from pagi.bus import Bus, PullConsumer
from records.evals import CaptureError, EvalStore, capture_case
from records.jobs import JobStore
from records.twins import TwinStore

from ..fake_llm import FakeLLMServer, Reply
from ..support import ObserveFactory
from .conftest import RunEval, Say, answer, deny_pending, llm_twin, make_set, tool_call

SIDE_EFFECTS = {TOOL_RUN, BUILD_REQ, MEMORY_QUERY, MEMORY_STORE, APPROVE_REQUEST, PLAN_ACTION}


async def usage_events(bus: Bus, session_id: str) -> list[Envelope[Any]]:
    return [e for _, e in await bus.read_stream(EVENTS.name, f"{USAGE_LLM}.{session_id}")]


async def side_effect_count(bus: Bus, session_id: str) -> int:
    """The session's stored requests to workers, approvals asked and plans, in PAGI_EVENTS."""
    stream = await bus.read_stream(EVENTS.name, f"*.*.{session_id}")
    return sum(1 for _, e in stream if e.type in SIDE_EFFECTS)


async def test_a_case_captured_from_a_real_session_passes_with_its_recorded_reply_and_no_model_call(
    bus: Bus,
    planner: list[PullConsumer],
    twins: TwinStore,
    fake_llm: FakeLLMServer,
    say_and_finish: Say,
    run_eval: RunEval,
    session_id: str,
) -> None:
    twin_id = await llm_twin(twins, fake_llm)
    fake_llm.script(Reply(answer("Paris is the capital.")), Reply(answer("It is 4.")))
    await say_and_finish("capital of France?", twin_id)
    job = await say_and_finish("what is 2+2?", twin_id)
    assert job.status == "completed"
    checks = [
        EvalCheck(kind="regex", value=r"\b4\b"),
        EvalCheck(kind="exact", value="It is 4."),
        EvalCheck(kind="must_not_call", value="command_exec"),
    ]
    case = await capture_case(await JobStore.open(bus), "c1", EvalCaseWrite(session_id=session_id, checks=checks))
    assert case.job_id == job.job_id and case.message == "what is 2+2?" and case.answer == "It is 4."
    assert [(t.role, t.content) for t in case.history] == [
        ("user", "capital of France?"),
        ("assistant", "Paris is the capital."),
    ]
    assert [s.decided_by for s in case.steps] == ["llm:openai-compatible/fake-model"]
    await make_set(bus, "arith", twin_id, session_id, *checks)
    asked = len(fake_llm.requests)

    result = await run_eval("arith")

    assert result.state == "done" and result.twin_id == twin_id
    assert (result.passed, result.failed, result.pass_rate) == (1, 0, 1.0)
    [outcome] = result.cases
    assert outcome.answer == "It is 4." and all(c.passed for c in outcome.checks)
    assert (result.llm_calls, outcome.replayed_calls) == (0, 1)
    assert outcome.baseline_passed is True and result.baseline_pass_rate == 1.0
    assert len(fake_llm.requests) == asked  # nothing asked of the model
    assert await (await EvalStore.open(bus)).result("arith", result.run_id) == result


async def test_a_changed_prompt_asks_the_model_once_keeps_the_reply_and_can_fail(
    bus: Bus,
    planner: list[PullConsumer],
    twins: TwinStore,
    fake_llm: FakeLLMServer,
    say_and_finish: Say,
    run_eval: RunEval,
    observe: ObserveFactory,
    session_id: str,
) -> None:
    twin_id = await llm_twin(twins, fake_llm)
    fake_llm.script(Reply(answer("It is 4.")))
    await say_and_finish("what is 2+2?", twin_id)
    await make_set(
        bus, "strict", twin_id, session_id,
        EvalCheck(kind="regex", value=r"\b4\b"), EvalCheck(kind="must_call", value="command_exec"),
    )  # fmt: skip
    fake_llm.script(Reply(answer("Four, in words.")))
    usage = await observe(f"{USAGE_LLM}.{session_id}")
    recorded_calls = len(await usage_events(bus, session_id))

    first = await run_eval("strict", prompt="Answer in words only.")

    assert len(fake_llm.requests) == 2  # the recorded job's call and this run's
    assert "Answer in words only." in fake_llm.requests[1].body["messages"][0]["content"]
    assert first.state == "done" and (first.passed, first.failed) == (0, 1)
    [case] = first.cases
    assert case.answer == "Four, in words." and case.llm_calls == 1 and case.replayed_calls == 0
    assert [c.passed for c in case.checks] == [False, False]
    assert case.baseline_passed is False  # the current prompt answers "4" but never calls command_exec
    assert case.input_tokens > 0 and case.output_tokens > 0
    # The run's model call is counted by the usage ledger like any other (by whom it was asked).
    [used] = await usage.wait_count(USAGE_LLM, 1)
    assert (used.body.twin_id, used.body.user_id, used.body.input_tokens) == (twin_id, "tester", case.input_tokens)

    second = await run_eval("strict", prompt="Answer in words only.")
    assert len(await usage_events(bus, session_id)) == recorded_calls + 1  # a kept reply costs nothing

    assert len(fake_llm.requests) == 2  # the kept reply answered
    assert second.llm_calls == 0 and second.replayed_calls == 1
    assert second.cases[0].answer == "Four, in words."


async def test_nothing_is_carried_out_again_and_recorded_results_are_reused(
    bus: Bus,
    planner: list[PullConsumer],
    twins: TwinStore,
    fake_llm: FakeLLMServer,
    say_and_finish: Say,
    run_eval: RunEval,
    observe: ObserveFactory,
    session_id: str,
) -> None:
    """A recorded job that asked to run a tool (denied by a person): the eval takes the step as
    approved and its result is the recorded one; no worker request, no job record, no plan event."""
    twin_id = await llm_twin(twins, fake_llm)
    fake_llm.script(Reply(tool_call("command_exec", {"cmd": "ls"})), Reply(answer("I was not allowed to list.")))
    jobs = await JobStore.open(bus)
    task = asyncio.ensure_future(say_and_finish("list the files", twin_id))
    await deny_pending(bus, session_id)
    job = await task
    assert [s.action_type for s in job.steps] == ["ActionTool", "ActionResponse"]
    await make_set(
        bus, "tools", twin_id, session_id,
        EvalCheck(kind="must_call", value="command_exec"), EvalCheck(kind="must_ask_approval"),
        EvalCheck(kind="regex", value="not allowed"),
    )  # fmt: skip
    stored = await (await EvalStore.open(bus)).get("tools")
    assert stored is not None and stored.cases[0].steps[0].asked_approval
    before = await jobs.kv.keys(f"{session_id}.*")
    side_effects = await side_effect_count(bus, session_id)
    events = await observe(one_session(session_id))
    asked = len(fake_llm.requests)

    result = await run_eval("tools", baseline=False)

    [case] = result.cases
    assert case.passed and case.actions == ["command_exec", "ActionResponse"] and case.asked_approval
    assert case.replayed_calls == 2 and len(fake_llm.requests) == asked
    assert result.baseline_pass_rate is None and case.baseline_passed is None
    assert {e.type for e in events.events} == {"eval.run", "eval.result"}
    assert await side_effect_count(bus, session_id) == side_effects
    assert await jobs.kv.keys(f"{session_id}.*") == before


async def test_a_run_that_cannot_start_answers_failed_saying_why(
    bus: Bus,
    planner: list[PullConsumer],
    twins: TwinStore,
    fake_llm: FakeLLMServer,
    say_and_finish: Say,
    run_eval: RunEval,
    session_id: str,
) -> None:
    twin_id = await llm_twin(twins, fake_llm)
    other_twin = await llm_twin(twins, fake_llm)
    fake_llm.script(Reply(answer("It is 4.")))
    await say_and_finish("what is 2+2?", twin_id)
    await make_set(bus, "mine", twin_id, session_id, EvalCheck(kind="regex", value="4"))

    unknown = await run_eval("no-such-set")
    assert unknown.state == "failed" and unknown.error == "no eval set 'no-such-set'"
    foreign = await run_eval("mine", twin_id=other_twin)
    assert foreign.state == "failed" and f"is of twin '{twin_id}', not '{other_twin}'" in (foreign.error or "")
    both = await run_eval("mine", prompt="x", prompt_version=1)
    assert both.state == "failed" and "not both" in (both.error or "")
    missing = await run_eval("mine", prompt_version=7)
    assert missing.state == "failed" and "no prompt version 7" in (missing.error or "")
    own = await run_eval("mine", twin_id=twin_id)
    assert own.state == "done" and own.twin_id == twin_id


async def test_a_malformed_eval_run_is_rejected_on_the_job_log(
    bus: Bus, planner: list[PullConsumer], observe: ObserveFactory, session_id: str
) -> None:
    logs = await observe(f"job.log.{session_id}")
    await bus.nc.publish(f"eval.run.{session_id}", b'{"set_id": "x", "run_id": "not a token!"}')
    [log] = await logs.wait_count("job.log", 1)
    assert log.body.level == "error" and f"rejected eval.run.{session_id}" in log.body.message


async def test_capture_refuses_what_it_cannot_record(
    bus: Bus,
    planner: list[PullConsumer],
    twins: TwinStore,
    fake_llm: FakeLLMServer,
    say_and_finish: Say,
    session_id: str,
) -> None:
    jobs = await JobStore.open(bus)
    checks = [EvalCheck(kind="must_ask_approval")]
    with pytest.raises(CaptureError, match="no recorded jobs in session"):
        await capture_case(jobs, "c", EvalCaseWrite(session_id="nobody-here", checks=checks))
    twin_id = await llm_twin(twins, fake_llm)
    fake_llm.script(Reply(answer("hi")))
    job = await say_and_finish("hello", twin_id)
    with pytest.raises(CaptureError, match="no job missing"):
        await capture_case(jobs, "c", EvalCaseWrite(session_id=session_id, job_id="missing", checks=checks))
    with pytest.raises(CaptureError, match="is of twin"):
        await capture_case(jobs, "c", EvalCaseWrite(session_id=session_id, checks=checks), twin_id="another")
    case = await capture_case(jobs, "c", EvalCaseWrite(session_id=session_id, job_id=job.job_id, checks=checks))
    assert case.answer == "hi"
