"""A model asks another twin with the AskTwin tool (a local server speaking the OpenAI protocol,
tests/fake_llm.py): the sub-job's answer goes back to the model as the call's result."""

from __future__ import annotations

import json

from bus_schemas.subjects import PLAN_ACTION, one_session
from pagi.bus import Bus
from planner.__main__ import PlannerService
from records.twins import TwinStore

from ..fake_llm import Call, FakeLLMServer, Reply
from ..planner.conftest import MakeTwin, Say
from ..planner.test_llm_planner import secret_key  # noqa: F401  (an autouse fixture)
from ..planner.test_tool_calling import tool_results, tool_twin
from ..support import ObserveFactory
from .test_subagents import children, wait_job_answer


async def test_a_model_asks_a_twin_and_reads_its_answer_as_the_tool_result(
    bus: Bus, full_planner: PlannerService, observe: ObserveFactory, session_id: str, say: Say, twins: TwinStore,
    fake_llm: FakeLLMServer, make_twin: MakeTwin,
) -> None:  # fmt: skip
    reviewer = await make_twin()
    ops = await tool_twin(twins, fake_llm, "openai", may_ask=[reviewer])
    fake_llm.script(
        Reply("Asking the reviewer.", tool_calls=[Call("AskTwin", {"twin_id": reviewer, "message": "safe?"}, id="c1")]),
        Reply("The reviewer has looked at it."),
    )
    events = await observe(one_session(session_id))
    asked = await say("is the deploy safe?", twin_id=ops)
    answer = await wait_job_answer(events, asked.id, timeout=30)
    assert answer.body.content == "The reviewer has looked at it."
    first, second = fake_llm.requests
    assert "AskTwin" in json.dumps(first.body["tools"]) and reviewer not in json.dumps(first.body["tools"])
    [result] = tool_results("openai", second)
    assert result.startswith(f"{reviewer} answered: Hello, this is {reviewer}") and "safe?" in result
    [child] = await children(bus, asked.id)
    assert child.chain == [ops] and child.status == "completed"
    plans = [e.body.action.action_type for e in events.of_type(PLAN_ACTION) if e.job_id == asked.id]
    assert plans == ["ActionAskTwin", "ActionResponse"]


async def test_a_model_is_refused_a_twin_its_policy_does_not_name(
    bus: Bus, full_planner: PlannerService, observe: ObserveFactory, session_id: str, say: Say, twins: TwinStore,
    fake_llm: FakeLLMServer, make_twin: MakeTwin,
) -> None:  # fmt: skip
    reviewer, stranger = await make_twin(), await make_twin()
    ops = await tool_twin(twins, fake_llm, "openai", may_ask=[reviewer])
    fake_llm.script(
        Reply(tool_calls=[Call("AskTwin", {"twin_id": stranger, "message": "hi"}, id="c1")]),
        Reply("I may not ask that twin."),
    )
    events = await observe(one_session(session_id))
    asked = await say("ask the stranger", twin_id=ops)
    assert (await wait_job_answer(events, asked.id, timeout=30)).body.content == "I may not ask that twin."
    [result] = tool_results("openai", fake_llm.requests[1])
    assert f"'{stranger}' is not among the twins {ops} may ask" in result
    assert await children(bus, asked.id) == []
