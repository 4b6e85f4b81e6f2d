"""Rubric checks (graded by the configured grader model, or not judged without one) and a
deterministic twin's cases, against the real planner and bus."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from bus_schemas.evals import EvalCheck
from pagi.bus import Bus, PullConsumer
from pagi.service import start_routes
from planner.__main__ import PlannerService
from records.twins import DEFAULT_TWIN_ID, TwinStore

from ..fake_llm import FakeLLMServer, Reply
from .conftest import RunEval, Say, answer, llm_twin, make_set


@pytest.fixture
async def graded_planner(
    bus: Bus, fake_llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[list[PullConsumer]]:
    """The planner with a grader model configured (the fake provider's OpenAI-compatible side)."""
    monkeypatch.setenv("PAGI_EVAL_GRADER", "openai-compatible:grader-model")
    monkeypatch.setenv("PAGI_EVAL_GRADER_URL", fake_llm.base_url("openai"))
    service = PlannerService()
    consumers = await start_routes(bus, await service.routes(bus))
    yield consumers
    for consumer in consumers:
        await consumer.stop()
    await service.close()


def verdict(passed: bool, why: str) -> Reply:
    return Reply(json.dumps({"pass": passed, "why": why}))


async def test_a_rubric_is_graded_by_the_grader_model_and_its_verdict_kept(
    bus: Bus,
    graded_planner: list[PullConsumer],
    twins: TwinStore,
    fake_llm: FakeLLMServer,
    say_and_finish: Say,
    run_eval: RunEval,
    session_id: str,
) -> None:
    twin_id = await llm_twin(twins, fake_llm)
    fake_llm.script(Reply(answer("It is 4.")))
    await say_and_finish("what is 2+2?", twin_id)
    await make_set(bus, "graded", twin_id, session_id, EvalCheck(kind="rubric", value="gives the number four"))
    fake_llm.script(verdict(False, "it says 4, not four"))

    first = await run_eval("graded", baseline=False)

    [case] = first.cases
    [rubric] = case.checks
    assert (rubric.passed, rubric.detail) == (False, "it says 4, not four") and not case.passed
    grading = fake_llm.requests[-1]
    assert grading.body["model"] == "grader-model"
    assert "gives the number four" in json.dumps(grading.body["messages"]) and "It is 4." in json.dumps(
        grading.body["messages"]
    )
    asked = len(fake_llm.requests)
    second = await run_eval("graded", baseline=False)
    assert second.cases[0].checks[0].passed is False and len(fake_llm.requests) == asked  # the kept verdict


async def test_without_a_grader_a_rubric_is_not_judged_and_counts_neither_way(
    bus: Bus,
    planner: list[PullConsumer],
    twins: TwinStore,
    fake_llm: FakeLLMServer,
    say_and_finish: Say,
    run_eval: RunEval,
    session_id: str,
) -> None:
    twin_id = await llm_twin(twins, fake_llm)
    fake_llm.script(Reply(answer("It is 4.")))
    await say_and_finish("what is 2+2?", twin_id)
    await make_set(
        bus, "ungraded", twin_id, session_id,
        EvalCheck(kind="rubric", value="polite"), EvalCheck(kind="regex", value="4"),
    )  # fmt: skip
    result = await run_eval("ungraded")
    [case] = result.cases
    assert [c.passed for c in case.checks] == [None, True] and case.passed
    assert case.checks[0].detail == "no grader model configured"


async def test_a_deterministic_twin_decides_deterministically(
    bus: Bus, planner: list[PullConsumer], say_and_finish: Say, run_eval: RunEval, session_id: str
) -> None:
    job = await say_and_finish("hello there", DEFAULT_TWIN_ID)
    recorded = job.steps[-1].action["content"]
    await make_set(bus, "plain", DEFAULT_TWIN_ID, session_id, EvalCheck(kind="exact", value=recorded))
    result = await run_eval("plain", prompt="A prompt the deterministic planner never reads.")
    [case] = result.cases
    assert case.passed and case.answer == recorded
    assert (case.llm_calls, case.replayed_calls) == (0, 0)
