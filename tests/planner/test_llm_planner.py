"""The planner deciding with an LLM: a local server speaking the provider's real protocol stands in
for the provider (the only stand-in the project allows)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bus_schemas.subjects import APPROVE_REQUEST, JOB_LOG, PLAN_ACTION, one_session
from bus_schemas.twin import TwinWrite
from pagi.secrets import new_secret_key
from records.twins import TwinStore

from ..fake_llm import Fail, FakeLLMServer, Family, Reply
from ..support import ObserveFactory, receive_until

Client = TestClient[web.Request, web.Application]
KEY = "sk-fake-" + "k" * 30


@pytest.fixture(autouse=True)
def secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGI_SECRET_KEY", new_secret_key())
    # The fake provider listens on loopback: allowed as an operator allows a local server.
    monkeypatch.setenv("PAGI_LLM_ALLOW_PRIVATE", "1")


async def llm_twin(
    twins: TwinStore, fake_llm: FakeLLMServer, family: Family = "openai", preset: str | None = None
) -> str:
    """A twin on the fake provider: the family's own preset (native tool calling), or `preset`
    (e.g. "openai-compatible": no tool calling, the JSON-object format)."""
    twin_id = f"llm-{preset or family}"
    settings = {"codename": "LLM", "provider": preset or family, "model": "fake-model", "api_key": KEY,
                "base_url": fake_llm.base_url(family)}  # fmt: skip
    await twins.create(twin_id, TwinWrite.model_validate(settings))
    return twin_id


def answer(content: str) -> str:
    return json.dumps({"action_type": "ActionResponse", "content": content})


@pytest.mark.parametrize("family", ["openai", "anthropic", "gemini"])
async def test_streamed_tokens_reach_the_browser_before_the_complete_message(
    edge: Client, twins: TwinStore, fake_llm: FakeLLMServer, session_id: str, family: Family
) -> None:
    twin_id = await llm_twin(twins, fake_llm, family)
    fake_llm.script(Reply(answer("Hello from the model, streamed in pieces."), chunk_size=7))
    async with edge.ws_connect("/ws/chat/ann") as ws:
        await ws.send_json({"session_id": session_id, "user_id": "ann", "message": "hi", "twin_id": twin_id})
        frames = await receive_until(ws, "complete_message")
    chunks = [f["content_chunk"] for f in frames if f["type"] == "message_chunk"]
    assert len(chunks) > 1
    assert "".join(chunks) == frames[-1]["content"] == "Hello from the model, streamed in pieces."
    [request] = fake_llm.requests
    assert request.streamed
    assert KEY in json.dumps(request.headers)  # the key went to the provider, in its header


async def test_an_llm_tool_decision_goes_to_approval(
    edge: Client, twins: TwinStore, fake_llm: FakeLLMServer, observe: ObserveFactory, session_id: str
) -> None:
    twin_id = await llm_twin(twins, fake_llm)
    fake_llm.script(
        Reply(json.dumps({"action_type": "ActionTool", "tool_name": "command_exec", "args": {"cmd": "ls"}}))
    )
    events = await observe(one_session(session_id))
    body = await (
        await edge.post("/v1/chat", json={"message": "list files", "twin_id": twin_id, "session_id": session_id})
    ).json()
    assert body["status"] == "awaiting_approval"
    assert body["issued_command"] == {
        "command": "execute_tool", "tool_name": "command_exec", "arguments": {"cmd": "ls"},
        "approval_id": body["issued_command"]["approval_id"],
    }  # fmt: skip
    [plan] = events.of_type(PLAN_ACTION)
    assert plan.body.decided_by == "llm:openai/fake-model"
    assert events.of_type(APPROVE_REQUEST)[0].body.action.tool_name == "command_exec"
    offered = {t["function"]["name"]: t["function"] for t in fake_llm.requests[0].body["tools"]}
    assert "command_exec" in offered  # the tools the twin may use are offered, with their schemas
    assert offered["command_exec"]["parameters"]["type"] == "object"


async def test_in_json_mode_the_tools_are_listed_in_the_system_prompt(
    edge: Client, twins: TwinStore, fake_llm: FakeLLMServer, session_id: str
) -> None:
    twin_id = await llm_twin(twins, fake_llm, preset="openai-compatible")
    fake_llm.script(Reply(answer("fine")))
    body = await (
        await edge.post("/v1/chat", json={"message": "hi", "twin_id": twin_id, "session_id": session_id})
    ).json()
    assert body["response"] == "fine"
    [request] = fake_llm.requests
    assert "tools" not in request.body
    assert "command_exec" in request.body["messages"][0]["content"]


async def test_a_slash_command_is_taken_as_typed_without_asking_the_model(
    edge: Client, twins: TwinStore, fake_llm: FakeLLMServer, observe: ObserveFactory, session_id: str
) -> None:
    """`/tool` is the person's own choice of action (the seed's execute_tool route sends one): the
    model never gets to pick another tool for it."""
    twin_id = await llm_twin(twins, fake_llm)
    fake_llm.script(
        Reply(json.dumps({"action_type": "ActionTool", "tool_name": "command_exec", "args": {"cmd": "rm -rf /"}}))
    )
    events = await observe(one_session(session_id))
    message = '/tool list_files {"path": "."}'
    body = await (
        await edge.post("/v1/chat", json={"message": message, "twin_id": twin_id, "session_id": session_id})
    ).json()
    assert body["status"] == "awaiting_approval"
    assert body["issued_command"]["tool_name"] == "list_files"
    [plan] = events.of_type(PLAN_ACTION)
    assert plan.body.decided_by == "deterministic" and plan.body.action.args == {"path": "."}
    assert fake_llm.requests == []


async def test_garbage_twice_falls_back_to_the_deterministic_planner_with_a_note(
    edge: Client, twins: TwinStore, fake_llm: FakeLLMServer, observe: ObserveFactory, session_id: str
) -> None:
    twin_id = await llm_twin(twins, fake_llm, preset="openai-compatible")
    fake_llm.script(Reply("not json at all"), Reply("{still not"))
    events = await observe(one_session(session_id))
    body = await (
        await edge.post("/v1/chat", json={"message": "hello", "twin_id": twin_id, "session_id": session_id})
    ).json()
    assert body["status"] == "completed" and "deterministic planner" in body["response"]
    note = await events.wait_for_count(lambda e: e.type == JOB_LOG and e.body.level == "warn", 1)
    assert "LLM reply invalid after repair" in note[0].body.message
    assert len(fake_llm.requests) == 2


async def test_a_failing_provider_is_named_and_the_key_never_shows(
    edge: Client, twins: TwinStore, fake_llm: FakeLLMServer, observe: ObserveFactory, session_id: str
) -> None:
    twin_id = await llm_twin(twins, fake_llm)
    fake_llm.default = Fail(500, message=f"upstream exploded, key was {KEY}")
    events = await observe(one_session(session_id))
    body: dict[str, Any] = await (
        await edge.post("/v1/chat", json={"message": "hello", "twin_id": twin_id, "session_id": session_id})
    ).json()
    assert body["status"] == "completed"
    [note] = await events.wait_for_count(lambda e: e.type == JOB_LOG and e.body.level == "warn", 1)
    assert "openai" in note.body.message and "500" in note.body.message
    assert all(KEY not in e.model_dump_json() for e in events.events)
