"""llm_decide against each protocol family: validation, the one repair, streamed response text."""

from __future__ import annotations

import json

import pytest

from bus_schemas import ActionMemory, ActionResponse, ActionTool
from planner.decision import Decision
from planner.llm import ChatMessage, LLMDecision, LLMError, LLMReplyInvalid, llm_decide
from planner.llm.instructions import action_names, format_instructions

from ..fake_llm import Fail, FakeLLMServer, Family, Reply
from .conftest import FAMILIES, ProviderFactory

MESSAGES = [ChatMessage("system", "You are Phoenix, a security twin."), ChatMessage("user", "hello")]
RESPONSE = {"action_type": "ActionResponse", "content": 'Hello! "Quoted", a\nnew line, café 😀.'}
TOOL = {"action_type": "ActionTool", "tool_name": "command_exec", "args": {"command": "ls -la"}}


def text_of(request_body: dict[str, object]) -> str:
    """Everything the model was told, as one string, whatever the protocol."""
    return json.dumps(request_body)


@pytest.mark.parametrize("family", FAMILIES)
async def test_valid_reply_is_a_decision(
    family: Family, fake_llm: FakeLLMServer, provider_for: ProviderFactory
) -> None:
    raw = json.dumps(TOOL)
    fake_llm.script(Reply(raw))
    decision = await llm_decide(provider_for(family), MESSAGES)

    assert isinstance(decision, Decision)
    assert decision.action == ActionTool(tool_name="command_exec", args={"command": "ls -la"})
    assert decision.raw == raw
    provider = {"openai": "openrouter", "anthropic": "anthropic", "gemini": "gemini"}[family]
    assert decision.decided_by == f"llm:{provider}/test-model"
    assert decision.repair_reason is None
    told = text_of(fake_llm.requests[0].body)
    assert "You are Phoenix" in told
    assert all(name in told for name in action_names())


async def test_instructions_follow_the_twin_prompt(fake_llm: FakeLLMServer, provider_for: ProviderFactory) -> None:
    fake_llm.script(Reply(json.dumps(RESPONSE)))
    await llm_decide(provider_for("openai"), MESSAGES)
    sent = fake_llm.requests[0].body["messages"]
    assert [m["role"] for m in sent] == ["system", "system", "user"]
    assert sent[0]["content"] == "You are Phoenix, a security twin."
    assert sent[1]["content"] == format_instructions()


def test_instructions_carry_each_action_schema() -> None:
    text = format_instructions()
    assert '"action_type":{"const":"ActionMemory"}' in text
    assert '"required":["action_type","tool_name","language","code","description"]' in text
    assert '"additionalProperties":false' in text
    restricted = format_instructions({"ActionResponse", "ActionMemory"})
    assert "ActionBuildTool" not in restricted and "ActionMemory" in restricted


async def test_fenced_reply_is_accepted(fake_llm: FakeLLMServer, provider_for: ProviderFactory) -> None:
    fake_llm.script(Reply('Sure:\n```json\n{"action_type": "ActionMemory", "query": "recent SSH attacks"}\n```\n'))
    decision = await llm_decide(provider_for("anthropic"), MESSAGES)
    assert decision.action == ActionMemory(query="recent SSH attacks")


@pytest.mark.parametrize("family", FAMILIES)
async def test_invalid_json_then_repaired(
    family: Family, fake_llm: FakeLLMServer, provider_for: ProviderFactory
) -> None:
    fake_llm.script(Reply('{"action_type": "ActionResponse", "content": "unterminated'), Reply(json.dumps(RESPONSE)))
    decision = await llm_decide(provider_for(family), MESSAGES)

    assert decision.action == ActionResponse(content=RESPONSE["content"])
    assert decision.repair_reason is not None and decision.repair_reason.startswith("not valid JSON")
    assert decision.input_tokens == 20  # the fake reports 10 per request; both attempts count
    assert len(fake_llm.requests) == 2
    repair = text_of(fake_llm.requests[1].body)
    assert "Your previous reply was not a valid action: not valid JSON" in repair
    assert "unterminated" in repair  # the bad reply is shown back as the assistant's turn


async def test_invalid_shape_then_repaired(fake_llm: FakeLLMServer, provider_for: ProviderFactory) -> None:
    fake_llm.script(
        Reply('{"action_type": "ActionTool", "args": {}, "why": "because"}'),
        Reply(json.dumps(TOOL)),
    )
    decision = await llm_decide(provider_for("gemini"), MESSAGES)
    assert decision.action.action_type == "ActionTool"
    assert decision.repair_reason is not None
    assert "ActionTool.tool_name: Field required" in decision.repair_reason
    assert "ActionTool.why: Extra inputs are not permitted" in decision.repair_reason


@pytest.mark.parametrize("family", FAMILIES)
async def test_invalid_twice_is_a_failure_for_the_deterministic_planner(
    family: Family, fake_llm: FakeLLMServer, provider_for: ProviderFactory
) -> None:
    fake_llm.script(Reply("I would rather chat in prose."), Reply('{"action_type": "ActionDance"}'))
    with pytest.raises(LLMReplyInvalid) as caught:
        await llm_decide(provider_for(family), MESSAGES)

    error = caught.value
    assert isinstance(error, LLMError)
    assert str(error).startswith("LLM reply invalid after repair: does not match the action schema: ")
    assert "ActionDance" in str(error)
    assert error.raw == '{"action_type": "ActionDance"}'
    assert error.first_reason.startswith("not valid JSON")
    assert len(fake_llm.requests) == 2


async def test_truncated_reply_says_so(fake_llm: FakeLLMServer, provider_for: ProviderFactory) -> None:
    cut = Reply('{"action_type": "ActionResponse", "content": "long', finish_reason="length")
    fake_llm.script(cut, cut)
    with pytest.raises(LLMReplyInvalid, match="cut off at the token limit"):
        await llm_decide(provider_for("openai"), MESSAGES)


async def test_disallowed_action_is_repaired(fake_llm: FakeLLMServer, provider_for: ProviderFactory) -> None:
    build = {"action_type": "ActionBuildTool", "tool_name": "t", "language": "python", "code": "x", "description": ""}
    fake_llm.script(Reply(json.dumps(build)), Reply(json.dumps(RESPONSE)))
    decision = await llm_decide(
        provider_for("openai"), MESSAGES, allowed_actions={"ActionResponse", "ActionTool", "ActionMemory"}
    )
    assert decision.action.action_type == "ActionResponse"
    assert decision.repair_reason is not None and "ActionBuildTool is not allowed" in decision.repair_reason


async def test_provider_failure_propagates(fake_llm: FakeLLMServer, provider_for: ProviderFactory) -> None:
    fake_llm.default = Fail(503, "overloaded")
    with pytest.raises(LLMError, match=r"HTTP 503: overloaded \(after 2 attempts\)"):
        await llm_decide(provider_for("anthropic", max_attempts=2), MESSAGES)


@pytest.mark.parametrize("family", FAMILIES)
async def test_streamed_response_content_reaches_the_sink_in_pieces(
    family: Family, fake_llm: FakeLLMServer, provider_for: ProviderFactory
) -> None:
    raw = json.dumps(RESPONSE)
    fake_llm.script(Reply(raw, chunk_size=3))
    chunks: list[str] = []

    async def on_chunk(text: str) -> None:
        chunks.append(text)

    decision = await llm_decide(provider_for(family), MESSAGES, on_content_chunk=on_chunk)

    assert isinstance(decision, LLMDecision)
    assert len(chunks) > 5
    assert "".join(chunks) == RESPONSE["content"] == decision.streamed
    assert not any("action_type" in chunk or "{" in chunk for chunk in chunks)
    assert decision.raw == raw
    assert fake_llm.requests[0].streamed


async def test_plain_function_sink_and_late_action_type(fake_llm: FakeLLMServer, provider_for: ProviderFactory) -> None:
    fake_llm.script(Reply('{"content": "type comes last", "action_type": "ActionResponse"}', chunk_size=4))
    chunks: list[str] = []
    decision = await llm_decide(provider_for("openai"), MESSAGES, on_content_chunk=chunks.append)
    assert "".join(chunks) == "type comes last" == getattr(decision.action, "content", None)


async def test_streamed_tool_action_sends_no_chunks(fake_llm: FakeLLMServer, provider_for: ProviderFactory) -> None:
    fake_llm.script(Reply(json.dumps(TOOL), chunk_size=2))
    chunks: list[str] = []
    decision = await llm_decide(provider_for("gemini"), MESSAGES, on_content_chunk=chunks.append)
    assert decision.action.action_type == "ActionTool"
    assert chunks == []


async def test_streamed_repair_streams_the_repaired_answer(
    fake_llm: FakeLLMServer, provider_for: ProviderFactory
) -> None:
    fake_llm.script(Reply("not json at all", chunk_size=3), Reply(json.dumps(RESPONSE), chunk_size=3))
    chunks: list[str] = []
    decision = await llm_decide(provider_for("anthropic"), MESSAGES, on_content_chunk=chunks.append)
    assert "".join(chunks) == RESPONSE["content"] == decision.streamed
    assert all(request.streamed for request in fake_llm.requests)


async def test_repair_after_shown_text_is_not_streamed_again(
    fake_llm: FakeLLMServer, provider_for: ProviderFactory
) -> None:
    fake_llm.script(
        Reply('{"action_type": "ActionResponse", "content": "first try", "extra": 1}', chunk_size=3),
        Reply(json.dumps(RESPONSE)),
    )
    chunks: list[str] = []
    decision = await llm_decide(provider_for("openai"), MESSAGES, on_content_chunk=chunks.append)
    assert decision.action == ActionResponse(content=RESPONSE["content"])
    assert "".join(chunks) == "first try" == decision.streamed
    assert [request.streamed for request in fake_llm.requests] == [True, False]


@pytest.mark.parametrize(
    "reply",
    [
        '{"action_type": "ActionMemory", "query": "q"}\nHope this helps!',
        'Searching now: {"action_type": "ActionMemory", "query": "q"}',
        '```\n{"action_type": "ActionMemory", "query": "q"}\n```',
    ],
    ids=["remark-after", "prose-before", "bare-fence"],
)
async def test_text_around_the_object_is_tolerated(
    reply: str, fake_llm: FakeLLMServer, provider_for: ProviderFactory
) -> None:
    fake_llm.script(Reply(reply))
    decision = await llm_decide(provider_for("openai"), MESSAGES)
    assert decision.action == ActionMemory(query="q")
    assert decision.repair_reason is None


@pytest.mark.parametrize("depth", [70, 5000])
async def test_a_deep_reply_is_repaired_not_retried(
    depth: int, fake_llm: FakeLLMServer, provider_for: ProviderFactory
) -> None:
    # 70: past the bounded decoder's depth, parsed by json; 5000: past Python's recursion limit.
    deep_args = '{"action_type": "ActionTool", "tool_name": "command_exec", "args": {"a": ' + "[" * depth
    deep_args += "]" * depth + "}}"
    fake_llm.script(Reply(deep_args), Reply(json.dumps(RESPONSE)))
    decision = await llm_decide(provider_for("openai"), MESSAGES)

    assert decision.action == ActionResponse(content=RESPONSE["content"])
    assert decision.repair_reason is not None and "deeper than" in decision.repair_reason
    assert len(fake_llm.requests) == 2
