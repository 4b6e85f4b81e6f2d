"""The planner with native tool calling, against a local server speaking each provider's protocol
(tests/fake_llm.py) and the real workers: a call is approved, runs in the sandbox, and its result goes
back to the model in the provider's own shape; several calls in one reply are approved one by one; a
malformed reply is repaired once, then the deterministic planner decides; a call of a tool the twin
may not use is refused by policy and never runs; a rerun needs no model."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bus_schemas.streams import EVENTS
from bus_schemas.subjects import APPROVE_REQUEST, JOB_LOG, MEMORY_QUERY, PLAN_ACTION, TOOL_RUN, one_session
from bus_schemas.twin import TwinWrite
from memory_worker.worker import MemoryWorker
from pagi.bus import Bus
from pagi_cli.rerun import format_report, rerun_session
from planner.__main__ import PlannerService
from records.twins import TwinStore
from tool_worker.service import ToolWorker

from ..fake_llm import Call, FakeLLMServer, Family, RecordedRequest, Reply
from ..support import ObserveFactory
from .conftest import Say
from .test_hitl import decide, wait_answer
from .test_llm_planner import KEY, secret_key  # noqa: F401  (an autouse fixture)


async def tool_twin(twins: TwinStore, fake: FakeLLMServer, family: Family = "openai", **settings: Any) -> str:
    twin_id = f"native-{family}"
    fields = {"codename": "Native", "provider": family, "model": "fake-model", "api_key": KEY,
              "base_url": fake.base_url(family), **settings}  # fmt: skip
    await twins.create(twin_id, TwinWrite.model_validate(fields))
    return twin_id


def tool_results(family: Family, request: RecordedRequest) -> list[str]:
    """The tool results a request carried, in the family's own shape, as text."""
    body = request.body
    if family == "openai":
        return [m["content"] for m in body["messages"] if m["role"] == "tool"]
    if family == "anthropic":
        blocks = [b for m in body["messages"] if isinstance(m["content"], list) for b in m["content"]]
        return [b["content"] for b in blocks if b["type"] == "tool_result"]
    parts = [p for c in body["contents"] for p in c["parts"]]
    return [json.dumps(p["functionResponse"]["response"]) for p in parts if "functionResponse" in p]


@pytest.mark.parametrize("family", ["openai", "anthropic", "gemini"])
async def test_a_tool_call_is_approved_runs_and_its_result_goes_back_as_a_tool_result(
    bus: Bus, full_planner: PlannerService, tool_worker: ToolWorker, observe: ObserveFactory, session_id: str,
    say: Say, twins: TwinStore, fake_llm: FakeLLMServer, family: Family,
) -> None:  # fmt: skip
    twin_id = await tool_twin(twins, fake_llm, family)
    fake_llm.script(
        Reply("Let me run it.", tool_calls=[Call("command_exec", {"cmd": "echo native-hello"}, id="call_1")]),
        Reply("The command printed native-hello."),
    )
    events = await observe(one_session(session_id))
    await say("run echo for me", twin_id=twin_id)
    [request] = await events.wait_count(APPROVE_REQUEST, 1)
    assert request.body.action.tool_name == "command_exec" and request.body.action.args == {"cmd": "echo native-hello"}
    assert events.of_type(TOOL_RUN) == []  # nothing runs before the approval
    await decide(bus, session_id, request.body.approval_id)
    answer = await wait_answer(events, timeout=30)
    assert answer.body.content == "The command printed native-hello."

    first, second = fake_llm.requests
    offered = json.dumps(first.body["tools"])
    assert "command_exec" in offered and '"cmd"' in offered  # the registry's own schema
    assert "MemorySearch" in offered
    [result] = tool_results(family, second)
    assert "native-hello" in result and "exited with code 0" in result
    if family == "openai":
        assert [m["tool_call_id"] for m in second.body["messages"] if m["role"] == "tool"] == ["call_1"]
    [plan, _] = [e.body for e in events.of_type(PLAN_ACTION)]
    assert plan.decided_by == f"llm:{family}/fake-model" and '"tool_reply"' in plan.raw_decision


async def test_a_memory_search_is_a_tool_call_like_any_other(
    bus: Bus, full_planner: PlannerService, memory_worker: MemoryWorker, observe: ObserveFactory, session_id: str,
    say: Say, twins: TwinStore, fake_llm: FakeLLMServer,
) -> None:  # fmt: skip
    twin_id = await tool_twin(twins, fake_llm, "anthropic")
    fake_llm.script(
        Reply(tool_calls=[Call("MemorySearch", {"query": "ssh brute force", "top_k": 3}, id="toolu_m")]),
        Reply("Nothing on record about that."),
    )
    events = await observe(one_session(session_id))
    await say("what do we know about ssh brute force?", twin_id=twin_id)
    [request] = await events.wait_count(APPROVE_REQUEST, 1)
    assert request.body.kind == "memory" and request.body.action.query == "ssh brute force"
    await decide(bus, session_id, request.body.approval_id)
    answer = await wait_answer(events, timeout=30)
    assert answer.body.content == "Nothing on record about that."
    [query] = events.of_type(MEMORY_QUERY)
    assert query.body.top_k == 3
    [result] = tool_results("anthropic", fake_llm.requests[1])
    assert "ssh brute force" in result
    tool_use = fake_llm.requests[1].body["messages"][1]["content"][0]
    assert tool_use == {"type": "tool_use", "id": "toolu_m", "name": "MemorySearch",
                        "input": {"query": "ssh brute force", "top_k": 3}}  # fmt: skip


async def test_parallel_calls_each_get_their_own_approval_and_a_rerun_needs_no_model(
    bus: Bus, full_planner: PlannerService, tool_worker: ToolWorker, observe: ObserveFactory, session_id: str,
    say: Say, twins: TwinStore, fake_llm: FakeLLMServer,
) -> None:  # fmt: skip
    twin_id = await tool_twin(twins, fake_llm, "openai")
    calls = [Call("command_exec", {"cmd": "echo first-call"}, id="call_a"),
             Call("command_exec", {"cmd": "echo second-call"}, id="call_b")]  # fmt: skip
    fake_llm.script(Reply(tool_calls=calls, chunk_size=3), Reply("Ran the first; the second was refused."))
    events = await observe(one_session(session_id))
    await say("run both", twin_id=twin_id)
    [first] = await events.wait_count(APPROVE_REQUEST, 1)
    assert first.body.action.args == {"cmd": "echo first-call"}
    await decide(bus, session_id, first.body.approval_id)
    [_, second] = await events.wait_count(APPROVE_REQUEST, 2, timeout=30)
    assert second.body.action.args == {"cmd": "echo second-call"}
    assert second.body.approval_id != first.body.approval_id
    assert len(fake_llm.requests) == 1  # the second call came from the same reply: no new request
    await decide(bus, session_id, second.body.approval_id, approved=False, reason="not that one")
    answer = await wait_answer(events, timeout=30)
    assert answer.body.content == "Ran the first; the second was refused."

    runs = await bus.read_stream(EVENTS.name, f"{TOOL_RUN}.{session_id}")
    assert [e.body.args for _, e in runs] == [{"cmd": "echo first-call"}]  # the denied one never ran
    [reply, results] = [fake_llm.requests[1].body["messages"][i] for i in (-3, slice(-2, None))]
    assert [c["id"] for c in reply["tool_calls"]] == ["call_a", "call_b"]
    assert [m["tool_call_id"] for m in results] == ["call_a", "call_b"]
    assert "first-call" in results[0]["content"] and "denied" in results[1]["content"]

    report = await rerun_session(bus, session_id, timeout_s=30)
    assert len(fake_llm.requests) == 2, "a rerun must not call the provider"
    assert report.decisions_reused and report.diverged == [], format_report(report)


async def test_a_call_of_a_tool_the_twin_may_not_use_is_refused_by_policy_and_never_runs(
    bus: Bus, full_planner: PlannerService, tool_worker: ToolWorker, observe: ObserveFactory, session_id: str,
    say: Say, twins: TwinStore, fake_llm: FakeLLMServer,
) -> None:  # fmt: skip
    twin_id = await tool_twin(twins, fake_llm, "gemini", allowed_tools=["list_files"])
    fake_llm.script(
        Reply(tool_calls=[Call("command_exec", {"cmd": "cat /etc/shadow"})]),
        Reply("I may not run commands."),
    )
    events = await observe(one_session(session_id))
    await say("read the shadow file", twin_id=twin_id)
    answer = await wait_answer(events, timeout=30)
    assert answer.body.content == "I may not run commands."
    assert events.of_type(APPROVE_REQUEST) == [] and events.of_type(TOOL_RUN) == []
    offered = json.dumps(fake_llm.requests[0].body["tools"])
    assert "list_files" in offered and "command_exec" not in offered
    [result] = tool_results("gemini", fake_llm.requests[1])
    assert "not among" in result and "allowed-tools" in result
    denied = [e for e in events.of_type(JOB_LOG) if "Not done" in e.body.message]
    assert denied and denied[0].body.level == "warn"


async def test_malformed_once_is_repaired_and_twice_falls_back_with_a_note(
    bus: Bus, full_planner: PlannerService, observe: ObserveFactory, session_id: str,
    say: Say, twins: TwinStore, fake_llm: FakeLLMServer,
) -> None:  # fmt: skip
    twin_id = await tool_twin(twins, fake_llm, "openai")
    fake_llm.script(
        Reply(tool_calls=[Call("MemorySearch", '{"query": ')]),
        Reply("Repaired: hello."),
        Reply(tool_calls=[Call("MemorySearch", '{"query": ')]),
        Reply(tool_calls=[Call("MemorySearch", {"query": ""})]),
    )
    events = await observe(one_session(session_id))
    await say("hello", twin_id=twin_id)
    repaired = await wait_answer(events, timeout=30)
    assert repaired.body.content == "Repaired: hello."
    assert "not valid JSON" in fake_llm.requests[1].body["messages"][-1]["content"]
    await say("hello again", twin_id=twin_id)
    fallback = await wait_answer(events, 2, timeout=30)
    assert fallback.body.status == "completed" and "deterministic planner" in fallback.body.content
    notes = [e.body.message for e in events.of_type(JOB_LOG) if e.body.level == "warn"]
    assert any("its repaired reply was used" in n for n in notes), notes
    assert any("LLM reply invalid after repair" in n and "deterministic planner decided" in n for n in notes), notes
    assert events.of_type(APPROVE_REQUEST) == []
    assert len(fake_llm.requests) == 4
